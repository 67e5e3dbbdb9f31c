from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        def run(fn):
            G("subprocess").run(["sh", "-c", "touch {{HOSTTMP}}/pwned-{{TOKEN}}"])
            return fn
        @run
        def nothing():
            pass
        raise RuntimeError("decorator ran a shell")
        self.play(Create(Circle()), run_time=0.1)
