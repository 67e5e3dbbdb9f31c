"""Checking a Manim script without running it: parse, scenes, policy, unknown names, fixes."""
