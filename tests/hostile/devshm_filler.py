from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        open("/dev/shm/fill", "wb").write(b"z" * (64 << 20))
        raise RuntimeError("wrote /dev/shm")
        self.play(Create(Circle()), run_time=0.1)
