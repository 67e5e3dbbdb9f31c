"""Old-style `self.play(mob.method, *args)` (ManimGL, CE before 0.5), which CE refuses: rewritten
with `.animate` after the render fails on it (scriptcheck/play_methods.py)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from manimagent.render.base import RenderFailure
from manimagent.scriptcheck.fixes import fix_after_failure
from manimagent.scriptcheck.play_methods import MESSAGE, fix_play_methods

HEAD = "from manim import *\n\nclass Old(Scene):\n    def construct(self):\n        d = Dot()\n"


def scene(*lines: str) -> str:
    return HEAD + "".join(f"        {line}\n" for line in lines)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("self.play(d.shift, UP)", "self.play(d.animate.shift(UP))"),
        (
            "self.play(t.set_value, 1, run_time=2, rate_func=linear)",
            "self.play(t.animate.set_value(1), run_time=2, rate_func=linear)",
        ),
        (
            "self.play(d.shift, UP, FadeIn(Square()), d.scale, 2)",
            "self.play(d.animate.shift(UP), FadeIn(Square()), d.animate.scale(2))",
        ),
        ("self.play(d.become, Square())", "self.play(d.animate.become(Square()))"),  # a mobject argument
        ("self.play(d.move_to, plane.n2p(0))", "self.play(d.animate.move_to(plane.n2p(0)))"),
        (
            "self.play(d.set_color, RED, d.animate.shift(UP))",
            "self.play(d.animate.set_color(RED), d.animate.shift(UP))",
        ),
    ],
)
def test_a_method_passed_to_play_becomes_an_animate_call(api, line, expected):
    new, fixes = fix_play_methods(scene("t = ValueTracker(0)", line), api)
    assert expected in new, new
    assert len(fixes) == 1 and fixes[0][1] == 7 and ".animate." in fixes[0][0]
    ast.parse(new)


def test_a_call_over_several_lines_is_rewritten_whole(api):
    new, fixes = fix_play_methods(scene("self.play(", "    d.move_to, ORIGIN,", "    run_time=2,", ")"), api)
    assert "self.play(d.animate.move_to(ORIGIN), run_time=2)" in new and len(fixes) == 1


@pytest.mark.parametrize(
    "line",
    [
        "self.play(d.animate.shift(UP))",  # today's form
        "self.play(self.intro)",  # an attribute holding an animation, not a Mobject method
        "self.play(d.shift, *moves)",  # its arguments cannot be read
        "self.play(FadeIn(d))",
    ],
)
def test_what_is_not_an_old_style_method_is_left_alone(api, line):
    code = scene(line)
    assert fix_play_methods(code, api) == (code, [])


def test_the_fix_follows_the_failure_that_names_it(api):
    code = scene("self.play(d.shift, UP)")
    failure = RenderFailure("TypeError", f"{MESSAGE}. Use Mobject.animate instead.", 6)
    new, fixes = fix_after_failure(code, failure, True, api)
    assert "d.animate.shift(UP)" in new and [fix.name for fix in fixes] == ["play-method"]


@pytest.mark.slow
def test_an_old_style_scene_renders_and_its_code_is_plain_manim(cli, tmp_path):
    path = tmp_path / "old.py"
    path.write_text(
        scene("self.add(d)", "self.play(d.shift, UP, run_time=0.5)", "self.play(d.scale, 2, run_time=0.5)")
    )
    result = cli("render", str(path), "--max-attempts", "2", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["success"] and doc["attempts"] == 2, doc
    assert {fix["name"] for fix in doc["fixes"]} == {"play-method"}
    code = cli("scripts", "show", doc["script_id"], "--json").json()["content"]
    assert "d.animate.shift(UP)" in code and "d.animate.scale(2)" in code
    (tmp_path / "fixed.py").write_text(code)
    raw = subprocess.run(
        [sys.executable, "-m", "manim", "render", "-ql", "--disable_caching", "--media_dir",
         str(tmp_path / "raw"), str(tmp_path / "fixed.py"), "Old"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert raw.returncode == 0, raw.stderr[-2000:]
