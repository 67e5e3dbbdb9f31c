from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        ctypes = G("ctypes")
        libc = ctypes.CDLL(None, use_errno=True)
        os = G("os")
        rc = libc.ptrace(16, os.getppid(), 0, 0)
        raise RuntimeError("ptrace attach returned %d errno %d" % (rc, ctypes.get_errno()))
        self.play(Create(Circle()), run_time=0.1)
