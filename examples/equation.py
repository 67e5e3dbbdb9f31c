"""An equation written with MathTex (needs LaTeX: see `manimagent doctor`)."""

from manim import *


class Euler(Scene):
    def construct(self):
        formula = MathTex(r"e^{i\pi} + 1 = 0", font_size=96)
        self.play(Write(formula))
        self.play(Circumscribe(formula))
