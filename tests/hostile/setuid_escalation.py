from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        subprocess = G("subprocess")
        out = subprocess.run(["su", "-c", "id"], capture_output=True, text=True, input="")
        raise RuntimeError("su: %r %r" % (out.stdout, out.stderr))
        self.play(Create(Circle()), run_time=0.1)
