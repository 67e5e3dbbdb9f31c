from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        open("/usr/pwned-{{TOKEN}}", "w").write("x")
        raise RuntimeError("wrote /usr")
        self.play(Create(Circle()), run_time=0.1)
