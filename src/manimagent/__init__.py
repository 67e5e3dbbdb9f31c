"""manimagent: turn a sentence into a rendered Manim video."""

__version__ = "0.1.0"
