from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        with open("huge.bin", "wb") as handle:
            for _ in range(64):
                handle.write(b"y" * (8 << 20))
        raise RuntimeError("wrote one 512 MiB file")
        self.play(Create(Circle()), run_time=0.1)
