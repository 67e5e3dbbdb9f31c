"""Checks without running: source reading, scenes, the policy table, undefined names, fixes, log parsing."""

from __future__ import annotations

import ast

import pytest

from manimagent.errors import BadInput, InvalidScript
from manimagent.render.base import RenderFailure
from manimagent.render.logparse import parse_failure, parse_progress
from manimagent.scriptcheck.check import check_script, select_scenes
from manimagent.scriptcheck.fixes import NAME_FIXES, fix_after_failure, fix_before_render
from manimagent.scriptcheck.names import manim_names
from manimagent.scriptcheck.scenes import find_scenes
from manimagent.scriptcheck.source import decode_script, parse_script, read_script_file

MANIM = frozenset(
    {
        "Scene",
        "ThreeDScene",
        "Circle",
        "Create",
        "Square",
        "BLUE",
        "TEAL",
        "np",
        "MathTex",
        "Text",
        "Dot",
        "config",
        "PURPLE",
    }
)


def test_scenes_in_file_order_including_local_bases():
    tree = ast.parse(
        "from manim import *\n"
        "class Base(Scene): pass\n"
        "class B(Base): pass\n"
        "class Cube(ThreeDScene): pass\n"
        "class Cam(MovingCameraScene): pass\n"
        "class Helper: pass\n"
        "class Odd(manim.Scene): pass\n"
    )
    assert find_scenes(tree) == ["Base", "B", "Cube", "Cam", "Odd"]


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("import subprocess", "subprocess"),
        ("import socket as s", "socket"),
        ("from urllib.request import urlopen", "urllib.request"),
        ("from os import system", "os.system"),
        ("import os\nos.system('ls')", "os.system()"),
        ("eval('1')", "eval()"),
        ("exec('x=1')", "exec()"),
        ("__import__('os')", "__import__()"),
        ("import os\nos.execv('/bin/sh', [])", "os.execv()"),
        ("import ctypes", "ctypes"),
        ("().__class__.__subclasses__()", "__subclasses__"),
    ],
)
def test_policy_refuses(source, fragment):
    report = check_script(f"from manim import *\n{source}\nclass A(Scene): pass\n", MANIM)
    assert any(fragment in finding.message for finding in report.policy_errors), report.findings


def test_open_is_only_a_warning():
    report = check_script(
        "from manim import *\nclass A(Scene):\n    def construct(self):\n        open('x')\n", MANIM
    )
    assert not report.errors and report.findings[0].severity == "warning"


def test_undefined_names_with_suggestions():
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        "        self.play(ShowCreation(Circel(color=CYAN)))\n        x = undefined_thing\n"
    )
    findings = {f.message.split()[0]: f for f in check_script(code, MANIM).findings}
    assert findings["ShowCreation"].suggestion == "Create"
    assert findings["Circel"].suggestion == "Circle"
    assert findings["CYAN"].suggestion == "TEAL"
    assert findings["undefined_thing"].line == 5


def test_names_bound_anywhere_are_known():
    code = (
        "from manim import *\nimport numpy as numpy_alias\n"
        "def helper(a, *args, k=1, **kw):\n    return [i for i in range(a)]\n"
        "class A(Scene):\n    def construct(self):\n        try:\n            pass\n"
        "        except Exception as err:\n            print(err)\n"
        "        with open('f') as handle: pass\n        if (n := 3): pass\n        helper(n)\n"
        "        numpy_alias.pi\n"
    )
    assert [f for f in check_script(code, MANIM).findings if f.code == "undefined-name"] == []


def test_real_manim_names_are_read_in_a_child_and_cached(tmp_path):
    names = manim_names(tmp_path)
    assert {"Scene", "Create", "MathTex", "np", "config"} <= names and "ShowCreation" not in names
    assert list(tmp_path.glob("manim-api-*.json"))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"\x00\x01\x02", "binary"),
        (b"\xff\xfe\xfa", "UTF-8"),
        (b"x" * 2_000_001, "limited"),
    ],
)
def test_bad_sources(data, message):
    with pytest.raises(InvalidScript, match=message):
        decode_script(data)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_script_file(tmp_path / "nope.py")
    with pytest.raises(BadInput, match="directory"):
        read_script_file(tmp_path)


def test_syntax_error_and_no_scene():
    with pytest.raises(InvalidScript, match="syntax error at line 2"):
        parse_script("x = 1\ndef (:\n")
    with pytest.raises(InvalidScript, match="no Scene"):
        check_script("from manim import *\nclass A: pass\n", MANIM)


def test_select_scenes():
    report = check_script("from manim import *\nclass A(Scene): pass\nclass B(Scene): pass\n", MANIM)
    assert select_scenes(report, None) == ["A", "B"]
    assert select_scenes(report, ["B", "A"]) == ["A", "B"]
    with pytest.raises(InvalidScript, match="no scene C"):
        select_scenes(report, ["C"])


def test_fix_table_renames_only_undefined_names():
    code = (
        "from manim import *\nShowCreation = Create\nclass A(Scene):\n    def construct(self):\n"
        "        self.play(ShowCreation(Circle(color=CYAN)))\n"
    )
    fixed, fixes = fix_before_render(code, {"CYAN"}, has_latex=True)
    assert "ShowCreation(Circle(color=TEAL))" in fixed and [f.description for f in fixes] == ["CYAN -> TEAL"]


def test_fix_table_size_and_targets_are_manim_names():
    assert len(NAME_FIXES) >= 20
    real = manim_names(__import__("pathlib").Path(__import__("tempfile").mkdtemp()))
    for target in NAME_FIXES.values():
        root = target.strip("(").split(".")[0].split(" ")[0]
        assert root in real, target


def test_tex_fixes():
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        '        t = MathTex("\\frac{1}{2}", color=BLUE)\n'
    )
    with_latex, fixes = fix_before_render(code, set(), has_latex=True)
    assert 'MathTex(r"\\frac{1}{2}"' in with_latex and fixes[0].name == "raw-tex-string"
    without, fixes = fix_before_render(code, set(), has_latex=False)
    assert "Text('(1)/(2)', color=BLUE)" in without and fixes[0].name == "tex-to-text"
    ast.parse(without)


def test_2d_points_fixed_after_a_broadcast_error():
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        "        Dot().move_to(np.array([1, 2]))\n        Dot().shift([1, 2])\n"
        "        Dot(point=(0.5, -1))\n        keep = np.array([[1, 2], [3, 4]])\n"
    )
    failure = RenderFailure("ValueError", "operands could not be broadcast together with shapes (2,) (3,)")
    fixed, fixes = fix_after_failure(code, failure, True)
    assert "np.array([1, 2, 0])" in fixed and "shift([1, 2, 0])" in fixed and "point=(0.5, -1, 0)" in fixed
    assert "np.array([[1, 2], [3, 4]])" in fixed and len(fixes) == 3
    assert fix_after_failure(code, RenderFailure("NameError", "x"), True) == (code, [])


def test_fixes_keep_unicode_positions():
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        "        t = Text('héllo ✓'); self.play(ShowCreation(t))\n"
    )
    fixed, _ = fix_before_render(code, {"ShowCreation"}, has_latex=True)
    assert "Text('héllo ✓'); self.play(Create(t))" in fixed


RICH_LOG = """Manim Community v0.22.0
│ /tmp/manimagent-job-x/scene.py:6 in construct                                                    │
│ ❱ 6 │   │   d.move_to(np.array([1, 2]))                                                          │
│ /site-packages/manim/mobject/mobject.py:2036 in move_to                                          │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
ValueError: operands could not be broadcast together with shapes (2,) (3,)
"""


def test_parse_failure_from_rich_traceback():
    failure = parse_failure(RICH_LOG)
    assert (failure.error_type, failure.line) == ("ValueError", 6)
    assert "broadcast" in failure.message and "script line 6" in failure.summary()


def test_parse_failure_without_exception():
    failure = parse_failure("something odd happened\n\n")
    assert failure.error_type == "RenderError" and failure.message == "something odd happened"


def test_parse_progress():
    assert parse_progress("Animation 2: Create(Circle):  40%|████      | 6/15") == (2, 40.0)
    assert parse_progress("INFO Rendered A") is None
