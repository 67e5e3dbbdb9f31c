"""Two scenes in one file: `manimagent render` renders both and joins them in file order."""

from manim import *


class TitleCard(Scene):
    def construct(self):
        title = Text("manimagent", font_size=72)
        self.play(Write(title))
        self.play(FadeOut(title))


class DotPath(Scene):
    def construct(self):
        dot = Dot(LEFT * 3, color=YELLOW)
        self.add(dot)
        self.play(dot.animate.move_to(RIGHT * 3 + UP))
        self.play(dot.animate.scale(3).set_color(RED))
