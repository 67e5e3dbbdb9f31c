from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        open("{{HOME}}/.bashrc", "a").write("echo pwned {{TOKEN}}\n")
        raise RuntimeError("wrote bashrc")
        self.play(Create(Circle()), run_time=0.1)
