from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        block = b"x" * (8 << 20)
        for i in range(64):
            with open("fill-%d.bin" % i, "wb") as handle:
                handle.write(block)
        raise RuntimeError("wrote 512 MiB")
        self.play(Create(Circle()), run_time=0.1)
