"""Manim plugins that LLM-written scenes import (manim-physics), rendered for real in the sandbox.

`scripts/setup.sh` installs them; in CI (`CI=true`) a missing plugin fails this file instead of
skipping it, so a set-up that forgot one cannot go green.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from conftest import video_duration

PHYSICS = """from manim import *
from manim_physics import *


class Fall(SpaceScene):
    def construct(self):
        ball = Circle(radius=0.5).set_fill(BLUE, 1).shift(UP * 2)
        ground = Line(LEFT * 4, RIGHT * 4).shift(DOWN * 3)
        self.add(ball, ground)
        self.make_rigid_body(ball)
        self.make_static_body(ground)
        self.wait(1)


class Field(Scene):
    def construct(self):
        charges = [Charge(1, LEFT * 2), Charge(-1, RIGHT * 2)]
        self.add(ElectricField(*charges), *charges)
        self.wait(0.2)
"""


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed: scripts/setup.sh installs it"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.slow
def test_a_manim_physics_scene_renders_in_the_sandbox_without_a_warning(cli, tmp_path):
    _require("manim_physics")
    scene = tmp_path / "physics.py"
    scene.write_text(PHYSICS)
    result = cli("render", str(scene), "--json")
    doc = result.json()
    assert result.code == 0 and doc["success"], doc.get("error")
    assert "not installed" not in result.stderr  # the plugin check sees it installed
    fall, field = (Path(path) for path in doc["outputs"])
    assert video_duration(fall) == pytest.approx(1.0, abs=0.1) and video_duration(field) > 0
    shown = cli("executions", "show", doc["execution_id"], "--json").json()
    assert shown["sandbox"]  # recorded: bwrap where it works, else the limits alone
