"""The render cache and partial success, with real renders and real SQLite."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, assert_one_line_error, run_cli_process, video_duration
from manimagent.render import cache as cache_module
from manimagent.render.base import OutputFormat, Quality, RenderRequest
from manimagent.render.cache import RenderCache, scene_code, scene_key

THREE = """from manim import *
class One(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=0.2)
class Two(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.2)
        BREAK
class Three(Scene):
    def construct(self):
        self.play(Create(Triangle()), run_time=0.2)
"""


@pytest.fixture
def cached(monkeypatch):
    monkeypatch.setenv("MANIMAGENT_RENDER_CACHE", "1")


# ---------------------------------------------------------------- keys (unit)


def _request(code: str = THREE, **changes) -> RenderRequest:
    return RenderRequest(code=code, scenes=["One"], **changes)


def test_every_part_of_the_key_changes_it(monkeypatch):
    base = scene_key(_request(), "One", "local", True, 1.0)
    assert base == scene_key(_request(), "One", "local", True, 1.0)
    changed = [
        scene_key(
            _request(THREE.replace("Circle()", "Circle(color=RED)")), "One", "local", True, 1.0
        ),  # the scene's code
        scene_key(_request(quality=Quality.MEDIUM), "One", "local", True, 1.0),
        scene_key(_request(format=OutputFormat.GIF), "One", "local", True, 1.0),
        scene_key(_request(layout=False), "One", "local", True, 1.0),
        scene_key(_request(), "One", "docker:manimagent-render:0.22", True, 1.0),  # engine and image
        scene_key(_request(), "One", "local", False, 1.0),  # LaTeX present or not
        scene_key(_request(), "One", "local", True, 2.0),  # a still scene's length
        scene_key(
            _request(THREE.replace("from manim import *", "from manim import *\nRATE = 2")),
            "One",
            "local",
            True,
            1.0,
        ),  # module code
    ]
    monkeypatch.setattr(cache_module, "manim_version", lambda: "0.99.0")
    changed.append(scene_key(_request(), "One", "local", True, 1.0))  # another manim
    assert base not in changed and len(set(changed)) == len(changed)


def test_another_scene_of_the_file_does_not_change_a_scenes_key():
    other = THREE.replace("Create(Square())", "Create(Star())")
    assert scene_key(_request(), "One", "local", True, 1.0) == scene_key(
        _request(other), "One", "local", True, 1.0
    )
    assert scene_code(THREE, "Two") != scene_code(other, "Two")
    derived = (
        "from manim import *\nclass Base(Scene):\n    def construct(self):\n        self.add(Dot())\n"
        "class Child(Base):\n    pass\n"
    )
    assert "class Base" in scene_code(derived, "Child")  # a scene keeps what it builds on
    assert scene_code("not python (", "X") == "not python ("


def test_least_recently_used_entries_are_evicted_first(tmp_path):
    cache = RenderCache(tmp_path / "cache", max_size=2500)
    files = []
    for index in range(3):
        path = tmp_path / f"S{index}.mp4"
        path.write_bytes(b"x" * 1000)
        files.append(path)
    cache.store("a", files[0])
    time.sleep(0.02)
    cache.store("b", files[1])
    time.sleep(0.02)
    assert cache.lookup("a") is not None  # a is used again: b is now the oldest
    time.sleep(0.02)
    cache.store("c", files[2])
    assert {entry.key for entry in cache.entries()} == {"a", "c"}
    assert files[1].exists()  # the execution's own file is not touched
    assert cache.clear() == 2 and cache.entries() == []


# ---------------------------------------------------------------- real renders


@pytest.mark.slow
def test_an_unchanged_render_is_a_cached_execution_sharing_the_video(cached, cli, isolated_home):
    first = cli("render", str(EXAMPLES / "circle.py"), "--json").json()
    again = cli("render", str(EXAMPLES / "circle.py"), "--json").json()
    assert first["success"] and again["success"]
    rows = {row["id"]: row for row in cli("executions", "list", "--json").json()}
    assert (
        rows[first["execution_id"]]["status"] == "succeeded"
        and rows[first["execution_id"]]["cached_from"] is None
    )
    assert (
        rows[again["execution_id"]]["status"] == "cached"
        and rows[again["execution_id"]]["cached_from"] == first["execution_id"]
    )
    shown = cli("executions", "show", again["execution_id"], "--log", "--json").json()
    assert "render cache" in shown["log"] and "Rendered" not in shown["log"]
    assert os.stat(first["output_path"]).st_ino == os.stat(again["output_path"]).st_ino  # one file, two names
    assert video_duration(again["output_path"]) > 2.0
    info = cli("cache", "info", "--json").json()
    assert info["entries"] == 1 and info["size"] > 1000 and info["enabled"] is True
    cli("scripts", "rm", first["script_id"], "--yes")
    assert Path(again["output_path"]).exists(), "deleting a script removed a video another execution uses"
    third = cli("render", str(EXAMPLES / "circle.py"), "--no-cache", "--json").json()
    assert cli("executions", "show", third["execution_id"], "--json").json()["status"] == "succeeded"
    assert cli("cache", "clear", "--json").json() == {"removed": 1}
    assert Path(again["output_path"]).exists() and cli("cache", "info", "--json").json()["entries"] == 0


@pytest.mark.slow
def test_a_change_in_code_or_quality_is_a_miss(cached, cli, tmp_path):
    scene = tmp_path / "s.py"
    scene.write_text(
        "from manim import *\nclass S(Scene):\n    def construct(self):\n"
        "        self.play(Create(Circle()), run_time=0.2)\n"
    )
    runs = [cli("render", str(scene), "--json").json()]
    scene.write_text(scene.read_text().replace("Circle()", "Square()"))
    runs.append(cli("render", str(scene), "--json").json())
    runs.append(cli("render", str(scene), "--quality", "medium", "--json").json())
    runs.append(cli("render", str(scene), "--quality", "medium", "--json").json())
    statuses = [cli("executions", "show", run["execution_id"], "--json").json()["status"] for run in runs]
    assert statuses == ["succeeded", "succeeded", "succeeded", "cached"]


@pytest.mark.slow
def test_a_failing_middle_scene_keeps_the_others_and_a_repair_renders_only_it(cached, cli, tmp_path):
    broken = tmp_path / "three.py"
    broken.write_text(THREE.replace("BREAK", "raise RuntimeError('scene two breaks')"))
    failed = cli("render", str(broken), "--json")
    assert failed.code == 1
    doc = failed.json()
    assert doc["success"] is False and "scene Two" in doc["error"]
    assert [Path(path).stem for path in doc["outputs"]] == ["One", "Three"]
    assert {row["scene"]: row["status"] for row in doc["scene_outputs"]} == {
        "One": "rendered",
        "Two": "failed",
        "Three": "rendered",
    }
    assert all(Path(path).exists() and video_duration(path) > 0 for path in doc["outputs"])
    stored = cli("executions", "show", doc["execution_id"], "--json").json()
    assert stored["status"] == "failed" and [Path(p).stem for p in stored["outputs"]] == ["One", "Three"]
    fixed = tmp_path / "three.py"
    fixed.write_text(THREE.replace("BREAK", "pass"))
    done = cli("render", str(fixed), "--json").json()
    assert done["success"] is True and Path(done["output_path"]).name == "all_scenes.mp4"
    log = cli("executions", "show", done["execution_id"], "--log", "--json").json()["log"]
    assert "Rendered Two" in log and "Rendered One" not in log and "Rendered Three" not in log


@pytest.mark.slow
@pytest.mark.parametrize("cache", ["1", "0"])
def test_partial_joins_the_scenes_that_rendered_and_success_stays_false(cli, tmp_path, monkeypatch, cache):
    monkeypatch.setenv("MANIMAGENT_RENDER_CACHE", cache)
    broken = tmp_path / "three.py"
    broken.write_text(THREE.replace("BREAK", "raise RuntimeError('scene two breaks')"))
    plain = cli("render", str(broken), "--json").json()
    assert plain["success"] is False and plain["output_path"] is None  # no joined video without --partial
    target = tmp_path / "out" / "joined.mp4"
    result = cli("render", str(broken), "--partial", "-o", str(target), "--json")
    assert result.code == 1
    doc = result.json()
    assert doc["success"] is False and "scene Two" in doc["error"]
    assert [Path(path).stem for path in doc["outputs"]] == ["One", "Three"]
    assert Path(doc["output_path"]) == target.resolve() and target.exists()
    parts = sum(video_duration(path) for path in doc["outputs"])
    assert video_duration(target) == pytest.approx(parts, abs=0.15)  # One and Three, nothing of Two
    stored = cli("executions", "show", doc["execution_id"], "--json").json()
    assert stored["status"] == "failed" and Path(stored["output_path"]).name == "all_scenes.mp4"


def test_partial_with_a_single_failing_scene_has_no_video(cli, tmp_path):
    broken = tmp_path / "one.py"
    broken.write_text(
        "from manim import *\nclass Only(Scene):\n    def construct(self):\n"
        "        raise RuntimeError('nothing')\n"
    )
    result = cli("render", str(broken), "--partial", "--json")
    assert result.code == 1 and result.json()["output_path"] is None and result.json()["outputs"] == []


def test_a_bad_cache_size_is_a_one_line_error(tmp_path, isolated_home):
    (isolated_home / "config.toml").write_text('[cache]\nmax_size = "lots"\n')
    result = run_cli_process("cache", "info")
    assert_one_line_error(result, 3)
    assert "cache.max_size" in result.stderr
    result = run_cli_process("render", str(EXAMPLES / "circle.py"), env={"MANIMAGENT_RENDER_CACHE": "1"})
    assert_one_line_error(result, 3)
    (isolated_home / "config.toml").write_text('[cache]\nenabled = "perhaps"\n')
    assert_one_line_error(run_cli_process("cache", "info", env={"MANIMAGENT_RENDER_CACHE": ""}), 3)


def test_cache_info_on_an_empty_home(cli):
    doc = cli("cache", "info", "--json").json()
    assert doc["entries"] == 0 and doc["size"] == 0 and doc["max_size"] == 5 << 30
    assert json.loads(json.dumps(doc))["path"].endswith("cache/renders")
