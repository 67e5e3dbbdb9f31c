from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        chunks = []
        for _ in range(64):
            chunks.append(bytearray(256 << 20))
        raise RuntimeError("allocated %d MiB" % (len(chunks) * 256))
        self.play(Create(Circle()), run_time=0.1)
