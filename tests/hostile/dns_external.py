from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        socket = G("socket")
        socket.create_connection(("example.com", 80), timeout=3)
        raise RuntimeError("reached the internet")
        self.play(Create(Circle()), run_time=0.1)
