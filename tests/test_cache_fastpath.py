"""A render the render cache answers whole, stored without the render loop or the ORM
(services/cache_hits.py, store/fast_cached.py) and, from the console script, before the CLI loads
(console_cached.py): real renders, real SQLite, the real console script in a child process.

Its rows, read back through the normal commands, are the rows the pipeline writes for the same hit;
anything that is not a whole hit on the current local store goes the normal way."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT, CliResult, assert_one_line_error, run_cli_process, video_duration

ONE = """from manim import *
class Ring(Scene):
    def construct(self):
        self.play(Create(Circle(color=BLUE)), run_time=0.3)
"""
TWO = """from manim import *
class First(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.3)
class Second(Scene):
    def construct(self):
        self.play(Create(Triangle()), run_time=0.3)
"""
FIXED = """from manim import *
class Old(Scene):
    def construct(self):
        self.play(ShowCreation(Circle()), run_time=0.3)
"""
STILL = """from manim import *
class Card(Scene):
    def construct(self):
        self.add(Square(color=RED))
class Moving(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=0.3)
"""
HEAVY = ("sqlmodel", "sqlalchemy", "typer", "rich", "pydantic")
TIMES = {"created_at", "updated_at", "started_at", "completed_at", "deadline"}


@pytest.fixture(autouse=True)
def cache_on(monkeypatch):
    monkeypatch.setenv("MANIMAGENT_RENDER_CACHE", "1")


@pytest.fixture
def normal_path(monkeypatch):
    """The pipeline stores the hit (the fast path never applies in this process)."""
    from manimagent.services import cache_hits

    monkeypatch.setattr(cache_hits, "applies", lambda ctx: False)


def console(*args: str) -> tuple[CliResult, set[str]]:
    """`manimagent ARGS` as a user runs it (the console script, stderr a pipe), and the top-level
    packages it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "manimagent", *args],
        capture_output=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ),
    )
    stderr = done.stderr.decode("utf-8", "replace").splitlines(keepends=True)
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in stderr if line.startswith("import time:")
    }
    shown = "".join(line for line in stderr if not line.startswith("import time:"))
    return CliResult(done.returncode, done.stdout.decode("utf-8", "replace"), shown), imported


def script_file(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(code)
    return path


def rendered(cli, path: Path, *extra: str) -> dict:
    """A first render (a miss): the entries a later render hits."""
    result = cli("render", str(path), "--json", *extra)
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["success"]
    return document


def masked(value, ids: dict[str, str]):
    """`value` with the ids of its rows replaced by their roles, and its times left out."""
    if isinstance(value, dict):
        return {key: masked(item, ids) for key, item in value.items() if key not in TIMES}
    if isinstance(value, list):
        return [masked(item, ids) for item in value]
    if isinstance(value, str):
        for row_id, role in ids.items():
            value = value.replace(row_id, role)
    return value


def stored(cli, document: dict) -> dict:
    """What the normal commands say of a render's rows, ids masked."""
    ids = {document["script_id"]: "<script>", document["execution_id"]: "<execution>"}
    execution = cli("executions", "show", document["execution_id"], "--json").json()
    listed = [
        row for row in cli("executions", "list", "--json").json() if row["id"] == document["execution_id"]
    ]
    return {
        "document": masked(document, ids),
        "execution": masked(execution, ids),
        "listed": masked(listed, ids),
        "script": masked(cli("scripts", "show", document["script_id"], "--json").json(), ids),
    }


def fast_hit(*args: str) -> CliResult:
    result, imported = console(*args)
    assert result.code == 0, result.stderr
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    return result


# ---------------------------------------------------------------- the same rows as the pipeline's


@pytest.mark.parametrize(
    "code", [ONE, TWO, FIXED, STILL], ids=["one-scene", "two-scenes-joined", "fixed", "still-and-video"]
)
def test_the_fast_paths_rows_are_the_pipelines(cli, tmp_path, code, monkeypatch):
    path = script_file(tmp_path, "scene.py", code)
    source = rendered(cli, path)
    fast_run = fast_hit("render", str(path), "--json")
    with monkeypatch.context() as patch:
        from manimagent.services import cache_hits

        patch.setattr(cache_hits, "applies", lambda ctx: False)
        normal_run = cli("render", str(path), "--json")
    fast, normal = fast_run.json(), normal_run.json()
    assert stored(cli, fast) == stored(cli, normal)
    shown = [  # the fixes, "Rendering ... (attempt 1 of 1)", "Done: <video>"
        masked(run.stderr, {doc["script_id"]: "<script>", doc["execution_id"]: "<execution>"})
        for run, doc in ((fast_run, fast), (normal_run, normal))
    ]
    assert shown[0] == shown[1] and "Rendering " in shown[0]
    execution = cli("executions", "show", fast["execution_id"], "--json").json()
    assert execution["status"] == "cached" and execution["cached_from"] == source["execution_id"]
    for document in (fast, normal):  # the scenes' videos are the source's, shared
        for mine, theirs in zip(document["outputs"], source["outputs"], strict=True):
            assert os.path.samefile(mine, theirs)
    # so are the shown video and its poster, but for the pipeline's new join of two scenes
    assert os.path.samefile(fast["output_path"], source["output_path"])
    assert os.path.samefile(fast["poster_path"], source["poster_path"])
    assert os.path.samefile(normal["poster_path"], source["poster_path"]) is (code is not TWO)
    if code is STILL:  # a still scene is its PNG, as manim makes it; the shown video is the other
        assert [row["kind"] for row in fast["scene_outputs"]] == ["image", "video"]
    if code is TWO:
        assert video_duration(normal["output_path"]) == pytest.approx(video_duration(source["output_path"]))
    if code is FIXED:
        assert fast["fixes"] and fast["fixes"][0]["stage"] == "before-render"


@pytest.mark.parametrize("jobs", [["--jobs", "2"], []], ids=["jobs", "default-jobs"])
def test_a_batch_of_hits_gives_the_same_documents_and_display(cli, tmp_path, monkeypatch, jobs):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for index, code in enumerate([ONE, TWO]):
        script_file(folder, f"s{index}.py", code)
    first = cli("render", str(folder), "--jobs", "2", "--json")
    assert first.code == 0, first.stderr
    fast = fast_hit("render", str(folder), *jobs, "--json")
    with monkeypatch.context() as patch:
        from manimagent.services import cache_hits

        patch.setattr(cache_hits, "applies", lambda ctx: False)
        normal = cli("render", str(folder), *jobs, "--json")
    assert normal.code == 0, normal.stderr
    fast_docs, normal_docs = fast.json(), normal.json()
    assert [list(doc) for doc in fast_docs] == [list(doc) for doc in normal_docs]
    assert [stored(cli, doc) for doc in fast_docs] == [stored(cli, doc) for doc in normal_docs]
    assert _display(fast.stderr, fast_docs) == _display(normal.stderr, normal_docs)
    lines = fast.stderr.splitlines()
    assert lines[-1].startswith("2 items: 2 succeeded, 0 failed in ") and lines[-1].endswith(")")
    assert lines[0].startswith("2 items, ") is not bool(jobs)  # how many at once, when not given


def test_a_reader_that_goes_away_stores_each_hit_once(cli, tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for index in range(3):
        script_file(folder, f"s{index}.py", ONE.replace("Ring", f"Ring{index}"))
    assert cli("render", str(folder), "--json").code == 0
    before = len(cli("executions", "list", "--json").json())
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "render", str(folder), "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first line
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    assert len(cli("executions", "list", "--json").json()) == before + 3


def _display(stderr: str, documents: list[dict]) -> list[str]:
    """The display's lines, each item's ids masked and times as `T`, in item order (the normal
    path runs two at once)."""
    lines = []
    for line in stderr.splitlines():
        for doc in documents:
            line = line.replace(doc["script_id"], "<script>").replace(doc["execution_id"], "<execution>")
        if " done " in line:
            line = "[n/2] done " + line.split(" done ", 1)[1].rsplit(" (", 1)[0]
        lines.append(line.rsplit(" in ", 1)[0] if line.startswith("2 items:") else line)
    return sorted(lines)


def test_jsonl_and_plain_output_of_the_fast_path(cli, tmp_path):
    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    streamed = fast_hit("render", str(path), "--jsonl")
    (line,) = streamed.stdout.splitlines()
    document = json.loads(line)
    assert document["success"] and document["file"] == str(path)
    assert "[1/1] done" in streamed.stderr
    plain = fast_hit("render", str(path))
    (shown,) = plain.stdout.splitlines()
    assert Path(shown).is_file() and shown.endswith("Ring.mp4")
    assert "Rendering Ring with local (attempt 1 of 1)" in plain.stderr
    assert f"Done: {shown}" in plain.stderr


def test_a_single_hit_starts_no_render_child(cli, tmp_path, monkeypatch):
    """A terminal's `render FILE` goes through the CLI; a whole hit there starts no manim child."""
    from manimagent import console_cached

    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    monkeypatch.setenv("FORCE_COLOR", "1")  # the CLI draws: the shortcut only tells it is a hit
    assert console_cached.answer(["render", str(path)]) == console_cached.Answer(code=None, all_hits=True)
    assert console_cached.answer(["render", str(path), "--no-cache"]).all_hits is False


# ---------------------------------------------------------------- what goes the normal way


def test_a_partial_hit_renders_the_missing_scene(cli, tmp_path):
    path = script_file(tmp_path, "two.py", TWO)
    rendered(cli, path)
    path.write_text(TWO.replace("Triangle()", "Star()"))
    result, imported = console("render", str(path), "--json")
    assert result.code == 0, result.stderr
    assert "sqlmodel" in imported  # the render loop stored it
    execution = cli("executions", "show", result.json()["execution_id"], "--json").json()
    assert execution["status"] == "succeeded" and execution["cached_from"] is None


def test_a_changed_file_and_no_cache_render_again(cli, tmp_path):
    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    for args in (["--no-cache"], ["--quality", "medium"]):
        result, imported = console("render", str(path), "--json", *args)
        assert result.code == 0, result.stderr
        assert "sqlmodel" in imported
        assert (
            cli("executions", "show", result.json()["execution_id"], "--json").json()["status"] == "succeeded"
        )
    path.write_text(ONE.replace("BLUE", "RED"))
    result, _ = console("render", str(path), "--json")
    assert cli("executions", "show", result.json()["execution_id"], "--json").json()["status"] == "succeeded"


def test_a_batch_with_one_miss_goes_the_normal_way_and_still_stores_the_hit_without_a_render(cli, tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    script_file(folder, "a.py", ONE)
    assert cli("render", str(folder), "--json").code == 0
    script_file(folder, "b.py", ONE.replace("Ring", "Other"))
    result, imported = console("render", str(folder), "--jobs", "2", "--json")
    assert result.code == 0, result.stderr
    statuses = [
        cli("executions", "show", doc["execution_id"], "--json").json()["status"] for doc in result.json()
    ]
    assert statuses == ["cached", "succeeded"]
    assert "typer" in imported


def test_another_schema_revision_goes_the_normal_way(cli, tmp_path, monkeypatch, isolated_home):
    from manimagent.store import fast_cached

    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    with pytest.raises(fast_cached.FastStoreUnavailable):  # what the fast path checks
        monkeypatch.setattr(fast_cached, "head_revision", lambda: "0099_later")
        with fast_cached.connect(f"sqlite:///{isolated_home / 'manimagent.db'}"):
            pass
    writes = []
    monkeypatch.setattr(fast_cached, "write_rows", lambda *args: writes.append(args))
    document = rendered(cli, path)
    assert writes == []  # the pipeline stored it
    assert cli("executions", "show", document["execution_id"], "--json").json()["status"] == "cached"


def test_a_missing_column_goes_the_normal_way(tmp_path, isolated_home, cli):
    from manimagent.store import fast_cached

    rendered(cli, script_file(tmp_path, "one.py", ONE))
    with fast_cached.connect(f"sqlite:///{isolated_home / 'manimagent.db'}") as conn:
        with pytest.raises(fast_cached.FastStoreUnavailable, match="columns differ"):
            fast_cached.write_rows(conn, [{"id": "x", "no_such_column": 1}], [])
    assert fast_cached.sqlite_file("postgresql+psycopg://u@h/db") is None
    assert fast_cached.sqlite_file("sqlite:///:memory:") is None


# ---------------------------------------------------------------- videos and bad input


def test_deleting_either_script_keeps_the_others_video(cli, tmp_path):
    path = script_file(tmp_path, "one.py", ONE)
    source = rendered(cli, path)
    fast = fast_hit("render", str(path), "--json").json()
    assert cli("scripts", "rm", source["script_id"], "--yes").code == 0
    assert Path(fast["output_path"]).is_file() and Path(fast["poster_path"]).is_file()
    again = fast_hit("render", str(path), "--json").json()  # the cache entry outlives its source
    assert cli("scripts", "rm", fast["script_id"], "--yes").code == 0
    assert Path(again["output_path"]).is_file() and Path(again["poster_path"]).is_file()
    assert not Path(fast["output_path"]).exists()


def test_bad_input_keeps_the_contracts_errors(cli, tmp_path):
    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    missing, _ = console("render", str(tmp_path / "missing.py"))
    assert_one_line_error(missing, 2)
    notes = tmp_path / "notes.txt"
    notes.write_text("just some words\n")
    assert_one_line_error(console("render", str(notes))[0], 2)
    in_batch, _ = console("render", str(path), str(tmp_path / "missing.py"), "--json")
    assert_one_line_error(in_batch, 2)
    both, _ = console("render", str(path), "--json", "--jsonl")
    assert_one_line_error(both, 2)
    unknown, _ = console("render", str(path), "--quality", "ultra")
    assert_one_line_error(unknown, 2)


def test_the_store_it_writes_is_read_by_the_orm(cli, tmp_path, isolated_home):
    """The raw rows decode as the ORM's: JSON lists, booleans, UTC times."""
    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    fast = fast_hit("render", str(path), "--json").json()
    with sqlite3.connect(isolated_home / "manimagent.db") as conn:
        raw = conn.execute(
            "SELECT scenes, is_successful, started_at, status FROM execution WHERE id = ?",
            (fast["execution_id"],),
        ).fetchone()
    assert json.loads(raw[0]) == ["Ring"] and raw[1] == 1 and raw[3] == "cached"
    listed = cli("scripts", "list", "--json").json()
    assert fast["script_id"] in {row["id"] for row in listed}


def test_the_console_starts_no_render_child_for_a_hit(cli, tmp_path):
    """On a terminal the CLI renders `render FILE`; for a whole hit the console starts no manim child
    first (a miss does: the hook below sees it)."""
    path = script_file(tmp_path, "one.py", ONE)
    rendered(cli, path)
    hook, marker = tmp_path / "hook", tmp_path / "prestarted"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import manimagent.render.prestart as prestart\n"
        "started = prestart.prestart\n"
        "def noted(*args, **kwargs):\n"
        f"    open({str(marker)!r}, 'a').write('started')\n"
        "    return started(*args, **kwargs)\n"
        "prestart.prestart = noted\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ["PYTHONPATH"]]), "FORCE_COLOR": "1"}
    hit = run_cli_process("render", str(path), "--json", env=env)
    assert hit.code == 0 and hit.json()["success"], hit.stderr
    assert not marker.exists()
    path.write_text(ONE.replace("BLUE", "GREEN"))
    miss = run_cli_process("render", str(path), "--json", env=env)
    assert miss.code == 0, miss.stderr
    assert marker.read_text() == "started"


@pytest.mark.parametrize("args", [["--no-cache"], []], ids=["no-cache", "empty-cache"])
def test_a_render_that_cannot_hit_declines_before_importing_anything(args, tmp_path):
    """--no-cache, or a render cache with nothing in it: the CLI (and manim's pre-start) begin at once."""
    probe = (
        "import sys; from manimagent import console_cached; "
        f"answer = console_cached.answer(['render', {str(EXAMPLES / 'circle.py')!r}, *{args!r}]); "
        "print(answer.code, answer.all_hits, 'manimagent.scriptcheck' in sys.modules, "
        "'sqlmodel' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["None", "False", "False", "False"], done.stdout + done.stderr
