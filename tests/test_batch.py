"""Batches: `render FILE|DIR|GLOB... --jobs N` and `generate --from FILE`, with real renders, real
SQLite and a real process for Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, assert_one_line_error, child_pids, process_gone, run_cli_process, video_duration

pytestmark = pytest.mark.slow

QUICK = (
    "from manim import *\nclass {name}(Scene):\n    def construct(self):\n"
    "        self.play(FadeIn(Dot()), run_time=0.2)\n"
)
TWO_SCENES = (
    QUICK.format(name="First")
    + "class Second(Scene):\n    def construct(self):\n        self.play(FadeIn(Square()), run_time=0.2)\n"
)
RAISES = (
    "from manim import *\nclass Boom(Scene):\n    def construct(self):\n        self.add(Circle())\n"
    "        raise RuntimeError('kaboom in a batch')\n"
)
# Writes `started` into its job folder (the one place a sandboxed render may write), then loops.
LOOPS = (
    "from manim import *\nimport time\nclass {name}(Scene):\n    def construct(self):\n"
    "        open('started', 'w').write('{name}')\n        while True:\n            time.sleep(0.05)\n"
)


def _rows(home, table: str) -> list[tuple]:
    db = home / "manimagent.db"
    if not db.exists():
        return []
    return sqlite3.connect(db).execute(f"SELECT status FROM {table}").fetchall()


def _running_rows(home) -> int:
    try:
        return _rows(home, "execution").count(("running",))
    except sqlite3.Error:  # the database is being created or migrated
        return 0


def _write(folder, name: str, code: str):
    path = folder / name
    path.write_text(code)
    return path


def test_a_folder_renders_every_scene_of_every_file_and_one_failure_fails_the_batch(
    cli, tmp_path, isolated_home
):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    _write(scenes, "a_two.py", TWO_SCENES)
    _write(scenes, "b_boom.py", RAISES)
    _write(scenes, "c_quick.py", QUICK.format(name="Quick"))
    _write(scenes, "notes.txt", "not a script")
    result = cli("render", str(scenes), "--jobs", "2", "--json")
    assert result.code == 1, result.stderr
    docs = result.json()
    assert [doc["file"].rsplit("/", 1)[-1] for doc in docs] == [
        "a_two.py",
        "b_boom.py",
        "c_quick.py",
    ]  # input order, .py only
    two, boom, quick = docs
    assert two["success"] and [item["scene"] for item in two["scene_outputs"]] == ["First", "Second"]
    assert two["output_path"].endswith("all_scenes.mp4") and video_duration(two["output_path"]) > 0.3
    assert quick["success"] and video_duration(quick["output_path"]) > 0.1
    assert not boom["success"] and "kaboom in a batch" in boom["error"] and boom["execution_id"]
    assert {"success", "script_id", "execution_id", "output_path", "attempts", "error"} <= set(
        boom
    )  # a single render's document
    assert len({doc["script_id"] for doc in docs}) == 3  # each item its own Script and Execution rows
    assert sorted(_rows(isolated_home, "execution")) == [("failed",), ("succeeded",), ("succeeded",)]
    assert "failed" in result.stderr and "b_boom.py" in result.stderr and "Traceback" not in result.stderr


def test_patterns_are_expanded_and_plain_output_lists_the_videos(cli, tmp_path):
    for name in ("one", "two"):
        _write(tmp_path, f"{name}.py", QUICK.format(name=name.title()))
    result = cli("render", str(tmp_path / "*.py"), "--scene", "One", "--jobs", "2")
    assert result.code == 1, result.stderr  # two.py has no scene One: that item fails, one.py renders
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith("One.mp4")
    assert "2 items: 1 succeeded, 1 failed" in result.stderr


def test_a_missing_file_is_bad_input_before_anything_starts(cli, tmp_path, isolated_home):
    good = _write(tmp_path, "good.py", QUICK.format(name="Good"))
    result = cli("render", str(good), str(tmp_path / "missing.py"), "--json")
    assert_one_line_error(result, 2)
    assert "missing.py" in result.stderr
    assert (
        result.stdout == "" or json.loads(result.stdout)["success"] is False
    )  # --json: the error as a document
    assert _rows(isolated_home, "script") == [] and _rows(isolated_home, "execution") == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli("render", str(empty)), 2)
    assert_one_line_error(cli("render", str(tmp_path / "nothing-*.py")), 2)
    assert_one_line_error(cli("render", str(good), str(good), "--jobs", "0"), 2)
    assert_one_line_error(cli("render", str(good), str(good), "--json", "--jsonl"), 2)
    assert_one_line_error(cli("render", str(good), str(good), "--output", str(tmp_path / "x.mp4")), 2)
    assert _rows(isolated_home, "script") == []


def test_a_timed_out_item_fails_alone_and_jsonl_streams_a_document_per_item(tmp_path, isolated_home):
    loop = _write(tmp_path, "loops.py", LOOPS.format(name="Loops"))
    quick = _write(tmp_path, "quick.py", QUICK.format(name="Quick"))
    result = run_cli_process(
        "render", str(loop), str(quick), "--jobs", "2", "--jsonl", env={"MANIMAGENT_RENDER_TIMEOUT": "8"}
    )
    assert result.code == 1, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]  # one whole document a line
    assert len(docs) == 2 and {doc["file"] for doc in docs} == {str(loop), str(quick)}
    assert docs[0]["file"] == str(quick)  # the stream is in finishing order: the quick one first
    by_file = {doc["file"]: doc for doc in docs}
    assert by_file[str(quick)]["success"] and by_file[str(quick)]["output_path"].endswith("Quick.mp4")
    timed_out = by_file[str(loop)]
    assert not timed_out["success"] and timed_out["error"].startswith("TimeoutError")
    assert "Traceback" not in result.stderr


def test_a_single_file_keeps_its_document(cli, tmp_path):
    quick = _write(tmp_path, "quick.py", QUICK.format(name="Quick"))
    doc = cli("render", str(quick), "--jobs", "2", "--json").json()
    assert isinstance(doc, dict) and doc["success"] and "file" not in doc
    (item,) = cli("render", str(quick), "--jsonl").stdout.splitlines()  # --jsonl makes even one file a batch
    assert json.loads(item)["file"] == str(quick) and json.loads(item)["success"]


def test_generate_from_a_file_of_prompts_and_json_lines(cli, tmp_path, isolated_home):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "# a comment, then a blank line\n\nAnimate a circle\n"
        '{"prompt": "Show a blue square", "format": "png"}\n'
        '{"prompt": "Animate a dot", "execute": false}\n'
    )
    result = cli("generate", "--from", str(prompts), "--jobs", "2", "--json")
    assert result.code == 0, result.stderr
    circle, square, dot = result.json()
    assert (circle["prompt"], circle["line"]) == ("Animate a circle", 3) and circle["provider"] == "offline"
    assert circle["success"] and video_duration(circle["output_path"]) > 0.5
    assert square["success"] and square["output_path"].endswith(".png")
    assert dot["success"] and dot["execution_id"] is None and dot["script_id"]
    assert len(_rows(isolated_home, "script")) == 3 and len(_rows(isolated_home, "execution")) == 2
    assert (
        result.stderr.count("offline") >= 1 and result.stderr.count("No provider") <= 1
    )  # the notice once, not per item


def test_generate_from_stdin(tmp_path):
    result = run_cli_process(
        "generate",
        "--from",
        "-",
        "--jobs",
        "2",
        "--no-execute",
        "--jsonl",
        input="Animate a circle\nAnimate a square\n",
    )
    assert result.code == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(doc["prompt"] for doc in docs) == ["Animate a circle", "Animate a square"]
    assert all(doc["success"] and doc["script_id"] for doc in docs)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"prompt": "a circle", "quality": "ultra"}', "unknown quality"),
        ('{"prompt": "a circle", "colour": "red"}', "unknown keys: colour"),
        ('{"prompt": "a circle", "max_attempts": "3"}', '"max_attempts" must be int'),
        ('{"prompt": "a circle",', "not valid JSON"),
        ('{"quality": "low"}', 'no "prompt"'),
        ('["a circle"]', None),  # not starting with "{": a plain prompt, so fine
    ],
)
def test_a_bad_line_is_bad_input_naming_it(cli, tmp_path, isolated_home, line, says):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(f"Animate a circle\n{line}\n")
    result = cli("generate", "--from", str(prompts), "--no-execute", "--json")
    if says is None:
        assert result.code == 0 and len(result.json()) == 2
        return
    assert_one_line_error(result, 2)
    assert "line 2" in result.stderr and says in result.stderr
    assert _rows(isolated_home, "script") == []


def test_generate_from_bad_input(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n")
    assert_one_line_error(cli("generate", "--from", str(empty)), 2)
    assert_one_line_error(cli("generate", "--from", str(tmp_path / "missing.txt")), 2)
    assert_one_line_error(cli("generate", "Animate a circle", "--from", str(empty)), 2)
    assert_one_line_error(cli("generate", "--from", str(empty), "--jobs", "0"), 2)
    assert_one_line_error(cli("generate"), 2)


def test_default_jobs_are_the_cores_capped_by_memory(monkeypatch):
    from manimagent.context import local_context
    from manimagent.services import batch

    ctx = local_context()
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(batch, "available_memory", lambda: 10 * (1 << 30))
    choice = batch.default_jobs(ctx)  # render.memory defaults to 4GiB: 10 GiB allows 2
    assert choice.jobs == 2 and "capped by memory" in choice.reason
    monkeypatch.setattr(batch, "available_memory", lambda: 64 * (1 << 30))
    assert batch.default_jobs(ctx).jobs == 8
    monkeypatch.setattr(batch, "available_memory", lambda: 1 << 20)
    assert batch.default_jobs(ctx).jobs == 1


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        children = child_pids(stack.pop())
        found += children
        stack += children
    return found


def _started_loops(host_tmp) -> list[str]:
    """The loops whose scene runs: each wrote `started` in its job folder (a direct render's or
    a pooled one's, both under TMPDIR)."""
    return sorted(marker.read_text() for marker in host_tmp.rglob("started") if marker.read_text())


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_in_the_middle_of_a_batch(tmp_path, isolated_home, signal_name):
    """SIGINT (as a terminal sends it) while two renders loop and two wait: exit 130, the running
    items' rows interrupted, every item in the output, no render process left."""
    folder, host_tmp = tmp_path / "loops", tmp_path / "host-tmp"
    folder.mkdir()
    host_tmp.mkdir()
    for number in range(4):
        _write(folder, f"l{number}.py", LOOPS.format(name=f"Loop{number}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "render", str(folder), "--jobs", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(host_tmp)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores SIGINT
    )
    deadline = time.monotonic() + 120
    # a render starts before its rows are written (the bookkeeping overlaps it): wait for both
    while (
        len(_started_loops(host_tmp)) < 2 or _running_rows(isolated_home) < 2
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _started_loops(host_tmp) == ["Loop0", "Loop1"], process.communicate(timeout=60)
    renders = _descendants(process.pid)
    assert renders
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=90)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "Error: interrupted." and "Traceback" not in err
    assert all(process_gone(pid, 10) for pid in renders), "a render process outlived the batch"
    docs = json.loads(out)
    assert [doc["file"].rsplit("/", 1)[-1] for doc in docs] == ["l0.py", "l1.py", "l2.py", "l3.py"]
    assert all(doc["status"] == "interrupted" and doc["success"] is False for doc in docs)
    assert all(doc.get("execution_id") and doc.get("script_id") for doc in docs[:2]), (docs, err)
    assert not any(doc.get("execution_id") for doc in docs[2:]), docs
    assert _rows(isolated_home, "execution") == [("interrupted",), ("interrupted",)]
    assert sorted(_rows(isolated_home, "script")) == [("failed",), ("failed",)]
    assert list(host_tmp.iterdir()) == []  # every job folder removed
