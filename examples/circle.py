"""A circle drawn, filled and turned into a square: the smallest manimagent example."""

from manim import *


class CircleToSquare(Scene):
    def construct(self):
        circle = Circle(radius=1.5, color=BLUE)
        self.play(Create(circle))
        self.play(circle.animate.set_fill(BLUE, opacity=0.5))
        self.play(Transform(circle, Square(side_length=3, color=GREEN, fill_opacity=0.5)))
        self.wait(0.5)
