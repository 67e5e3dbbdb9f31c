from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        subprocess = G("subprocess")
        subprocess.Popen(["sh", "-c", "sleep 600; touch {{HOSTTMP}}/pwned-{{TOKEN}}", "{{TOKEN}}"], start_new_session=True)
        proc = G("os")
        if proc.fork() == 0:
            proc.setsid()
            G("time").sleep(600)
        raise RuntimeError("left children behind")
        self.play(Create(Circle()), run_time=0.1)
