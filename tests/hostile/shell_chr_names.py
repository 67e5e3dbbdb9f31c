from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        name = "".join(chr(c) for c in (115, 117, 98, 112, 114, 111, 99, 101, 115, 115))
        G(name).run(["sh", "-c", "touch {{HOSTTMP}}/pwned-{{TOKEN}}"])
        raise RuntimeError("ran a shell")
        self.play(Create(Circle()), run_time=0.1)
