from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        sysconfig = G("sysconfig")
        open(sysconfig.get_paths()["purelib"] + "/pwned_{{TOKEN}}.pth", "w").write("import os\n")
        raise RuntimeError("wrote a .pth")
        self.play(Create(Circle()), run_time=0.1)
