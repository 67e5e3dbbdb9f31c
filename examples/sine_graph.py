"""A sine curve plotted on axes, with a dot running along it."""

from manim import *


class SineGraph(Scene):
    def construct(self):
        axes = Axes(x_range=[0, 2 * PI, PI / 2], y_range=[-1.5, 1.5, 0.5], x_length=10, y_length=4)
        curve = axes.plot(np.sin, color=YELLOW)
        dot = Dot(axes.i2gp(0, curve), color=RED)
        self.play(Create(axes), Create(curve))
        self.add(dot)
        self.play(MoveAlongPath(dot, curve), run_time=2, rate_func=linear)
