"""`manimagent render` end to end with real manim and real SQLite, and the bad input users give."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import (
    EXAMPLES,
    assert_one_line_error,
    marked_processes,
    process_gone,
    run_cli_process,
    video_duration,
)

pytestmark = pytest.mark.slow

RAISES = (
    "from manim import *\nclass Boom(Scene):\n    def construct(self):\n        self.add(Circle())\n"
    "        raise RuntimeError('kaboom from the scene')\n"
)
LOOPS = (
    "from manim import *\nclass Forever(Scene):\n    def construct(self):\n        while True:\n"
    "            pass\n"
)


def _count(home, table: str) -> int:
    db = home / "manimagent.db"
    if not db.exists():
        return 0
    return sqlite3.connect(db).execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_render_example_json_and_video(cli, isolated_home):
    result = cli("render", str(EXAMPLES / "circle.py"), "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert set(doc) >= {"success", "execution_id", "output_path", "attempts", "error"}
    assert doc["success"] is True and doc["attempts"] == 1 and doc["error"] is None
    assert doc["output_path"].startswith(str(isolated_home / "media"))
    assert video_duration(doc["output_path"]) > 2.0
    listed = cli("executions", "list", "--json").json()
    assert [row["id"] for row in listed] == [doc["execution_id"]]
    assert (
        listed[0]["is_successful"]
        and listed[0]["engine"] == "local"
        and listed[0]["script"] == doc["script_id"]
    )
    assert not (isolated_home / "media" / ".staging" / doc["execution_id"]).exists()


def test_two_scenes_are_joined_in_file_order(cli):
    doc = cli("render", str(EXAMPLES / "two_scenes.py"), "--json").json()
    assert [p.rsplit("/", 1)[-1] for p in doc["outputs"]] == ["TitleCard.mp4", "DotPath.mp4"]
    parts = sum(video_duration(path) for path in doc["outputs"])
    assert doc["output_path"].endswith("all_scenes.mp4")
    assert abs(video_duration(doc["output_path"]) - parts) < 0.3


def test_scene_selection_and_formats(cli, tmp_path):
    doc = cli(
        "render", str(EXAMPLES / "two_scenes.py"), "--scene", "DotPath", "--format", "gif", "--json"
    ).json()
    assert doc["outputs"] == [doc["output_path"]] and doc["output_path"].endswith("DotPath.gif")
    png = cli(
        "render", str(EXAMPLES / "circle.py"), "--format", "png", "--output", f"{tmp_path / 'out'}/", "--json"
    ).json()
    assert png["output_path"] == str(tmp_path / "out" / "CircleToSquare.png")
    assert (tmp_path / "out" / "CircleToSquare.png").stat().st_size > 1000


def test_a_script_that_raises_is_stored_with_its_error(cli, tmp_path, isolated_home):
    file = tmp_path / "boom.py"
    file.write_text(RAISES)
    result = cli("render", str(file), "--json")
    assert result.code == 1 and "Traceback" not in result.stderr
    doc = result.json()
    assert (
        doc["success"] is False
        and "RuntimeError: kaboom from the scene" in doc["error"]
        and "line 5" in doc["error"]
    )
    shown = cli("executions", "show", doc["execution_id"][:8], "--log", "--json").json()
    assert shown["status"] == "failed" and shown["error_line"] == 5 and "kaboom" in shown["log"]
    assert cli("scripts", "show", doc["script_id"], "--json").json()["status"] == "failed"


def test_an_endless_render_is_killed_at_the_time_limit(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MANIMAGENT_RENDER_TIMEOUT", "4")
    file = tmp_path / "loop.py"
    file.write_text(LOOPS)
    result = cli("render", str(file), "--json")
    assert result.code == 1
    assert "longer than 4 s" in result.json()["error"]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("DIR", "is a directory"),
        (b"\x00\x01binary\x00", "binary"),
        (b"", "empty"),
        (b"from manim import *\nclass A(Scene)\n", "syntax error at line 2"),
        (b"import math\nprint(1)\n", "no Scene"),
        (
            (
                b"from manim import *\nimport subprocess\nclass A(Scene):\n    def construct(self):\n"
                b"        subprocess.run(['ls'])\n"
            ),
            "refused",
        ),
    ],
)
def test_bad_files_are_one_line_errors_and_lose_nothing(cli, tmp_path, isolated_home, content, message):
    cli("render", str(EXAMPLES / "circle.py"), "--format", "png")
    before = (_count(isolated_home, "script"), _count(isolated_home, "execution"))
    target = tmp_path / "input.py"
    if content == "DIR":
        target.mkdir()
    elif content is not None:
        target.write_bytes(content)
    result = cli("render", str(target))
    assert_one_line_error(result, 2)
    assert message in result.stderr
    scripts, executions = _count(isolated_home, "script"), _count(isolated_home, "execution")
    assert scripts >= before[0] and executions >= before[1]
    assert cli("executions", "list", "--json").json()[-1]["is_successful"]


def test_unknown_scene_is_bad_input(cli):
    result = cli("render", str(EXAMPLES / "two_scenes.py"), "--scene", "Nope")
    assert_one_line_error(result, 2)
    assert "TitleCard, DotPath" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--quality", "ultra"],
        ["--format", "avi"],
        ["--max-attempts", "0"],
        ["--engine", "vulkan"],
        ["--engine", "local", "--container", "x"],
    ],
)
def test_invalid_option_values(cli, args):
    assert_one_line_error(cli("render", str(EXAMPLES / "circle.py"), *args), 2)


def test_unknown_short_and_ambiguous_ids(cli, isolated_home):
    import uuid

    from manimagent.context import local_context
    from manimagent.store.models import Script

    ctx = local_context()
    with ctx.session() as session:
        for suffix in ("1", "2"):
            session.add(Script(id=f"abcd{suffix}{uuid.uuid4().hex[5:]}", prompt="p", content="x"))
        session.commit()
    for args in (
        ["scripts", "show", "abcd"],
        ["scripts", "show", "ab"],
        ["scripts", "show", "ffffffff"],
        ["executions", "show", "zzzz"],
        ["executions", "retry", "1234"],
        ["scripts", "execute", "9999"],
    ):
        assert_one_line_error(cli(*args), 2)
    assert "several" in cli("scripts", "show", "abcd").stderr
    assert len(cli("scripts", "list", "--json").json()) == 2


def test_scripts_import_show_export_execute_rm(cli, tmp_path, isolated_home):
    script = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()
    assert script["status"] == "pending" and script["scenes"] == ["CircleToSquare"]
    assert cli("scripts", "show", script["id"][:6], "--code").stdout == (EXAMPLES / "circle.py").read_text()
    exported = tmp_path / "copy.py"
    cli("scripts", "export", script["id"], "--output", str(exported))
    assert exported.read_text() == (EXAMPLES / "circle.py").read_text()
    run = cli("scripts", "execute", script["id"], "--json").json()
    assert run["success"] and run["attempts"] == 1
    retried = cli("executions", "retry", run["execution_id"], "--json").json()
    assert retried["success"] and retried["execution_id"] != run["execution_id"]
    assert cli("executions", "list", "--script", script["id"], "--json").json()[0]["attempt_number"] == 2
    assert_one_line_error(cli("scripts", "rm", script["id"]), 2)  # no terminal, no --yes
    assert cli("scripts", "rm", script["id"], "--yes").code == 0
    assert not (isolated_home / "media" / script["id"]).exists()
    assert cli("executions", "list", "--json").json() == []


def test_list_filters_and_bad_values(cli):
    cli("scripts", "import", str(EXAMPLES / "circle.py"))
    assert len(cli("scripts", "list", "--status", "pending", "--json").json()) == 1
    assert cli("scripts", "list", "--status", "failed", "--json").json() == []
    assert_one_line_error(cli("scripts", "list", "--status", "weird"), 2)
    assert_one_line_error(cli("scripts", "list", "--limit", "0"), 2)


def test_end_to_end_in_a_child_process_prints_only_json(isolated_home):
    result = run_cli_process("render", str(EXAMPLES / "circle.py"), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["success"] is True
    assert "Rendering CircleToSquare" in result.stderr


def test_a_render_sees_no_keys_in_its_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai")
    monkeypatch.setenv("MANIMAGENT_SECRET_KEY", "server-secret-value")
    file = tmp_path / "env.py"
    file.write_text(
        "from manim import *\nimport os\nclass Env(Scene):\n    def construct(self):\n"
        "        print('ENV', sorted(os.environ.items()))\n        self.add(Dot())\n        self.wait(0.1)\n"
    )
    doc = cli("render", str(file), "--json").json()
    log = cli("executions", "show", doc["execution_id"], "--log", "--json").json()["log"]
    assert (
        "ENV" in log
        and "sk-test-secret-openai" not in log
        and "server-secret-value" not in log
        and "MANIMAGENT" not in log
    )


def test_console_script_prestarts_manim_and_cleans_up(tmp_path):
    """`python -m manimagent render` starts manim's import before parsing; every path cleans up."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    env = {"TMPDIR": str(jobs)}
    ok = run_cli_process("render", str(EXAMPLES / "circle.py"), "--json", env=env)
    assert ok.code == 0 and json.loads(ok.stdout)["success"], ok.stderr
    bad = run_cli_process("render", str(tmp_path / "missing.py"), env=env)
    assert_one_line_error(bad, 2)
    loop = tmp_path / "loop.py"
    loop.write_text(LOOPS)
    killed = run_cli_process("render", str(loop), "--json", env={**env, "MANIMAGENT_RENDER_TIMEOUT": "3"})
    assert killed.code == 1 and "longer than 3 s" in json.loads(killed.stdout)["error"]
    assert list(jobs.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "prestarts"),
    [
        (["render", "a.py"], True),
        (["render", "a.py", "--quality", "low", "-s", "One", "--format", "png", "-o", "out.mp4"], True),
        (["render", "--max-attempts", "3", "--still-seconds", "2", "a.py", "--no-cache"], True),
        (["render", "--", "a.py"], True),
        (["render", "a.py", "b.py"], False),
        (["render", "a.py", "--engine", "docker"], False),
        (["render", "a.py", "--jobs", "2"], False),
        (["render", "*.py"], False),
        (["render", "--quality", "low"], False),
        (["scripts", "execute", "x"], False),
    ],
)
def test_the_console_guesses_a_single_local_render_from_raw_arguments(args, prestarts):
    """Option values (`--quality low`) are not files: a single render with options is pre-started too."""
    from manimagent.console import _renders_locally

    assert _renders_locally(args) is prestarts


CONNECT_HOOK = (
    "import os, socket\n"
    "def connect(self, address):\n"
    "    with open(os.environ['CONNECT_LOG'], 'a') as log:\n"
    "        log.write(repr(address) + '\\n')\n"
    "    raise OSError('network refused by the test')\n"
    "socket.socket.connect = connect\n"
)


def test_the_render_child_makes_no_network_connection(tmp_path):
    """Stock `manim render` asks PyPI for a newer manim after each render; manimagent's child does not."""
    import subprocess
    import sys

    from manimagent.render import child
    from manimagent.render.base import SCRIPT_NAME, RenderRequest, manim_arguments
    from manimagent.render.process import render_environment

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CONNECT_HOOK)
    connects = tmp_path / "connects.log"
    request = RenderRequest(code=(EXAMPLES / "circle.py").read_text(), scenes=["CircleToSquare"])

    def run(command_for) -> subprocess.CompletedProcess:
        job = tmp_path / f"job{len(list(tmp_path.iterdir()))}"
        job.mkdir()
        (job / SCRIPT_NAME).write_text(request.code)
        env = {**render_environment(job), "PYTHONPATH": str(hook), "CONNECT_LOG": str(connects)}
        return subprocess.run(
            command_for(manim_arguments(request)),
            cwd=job,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    ours = run(lambda args: child.command(sys.executable, args))
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "Rendered CircleToSquare" in ours.stdout and not connects.exists()
    # The hook works: the same arguments without --silent, through stock manim, do connect.
    stock = run(lambda args: [sys.executable, "-m", "manim", *[arg for arg in args if arg != "--silent"]])
    assert stock.returncode == 0 and connects.exists()


def test_the_render_child_passes_on_manims_exit_code(tmp_path):
    import subprocess
    import sys

    from manimagent.render import child
    from manimagent.render.process import render_environment

    done = subprocess.run(
        child.command(sys.executable, ["render", "--no-such-option"]),
        cwd=tmp_path,
        env=render_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no-such-option" in done.stdout + done.stderr


def _start_endless_render(tmp_path, env: dict[str, str] | None = None):
    """`python -m manimagent render` of a scene that loops after starting a marked child; returns
    (process, the host pid of that child). The render is sandboxed (it can write nothing outside its
    job folder, and its own pids are its namespace's), so the test finds the child by its marker
    in the host's /proc."""
    import os
    import subprocess
    import sys
    import time
    import uuid

    from conftest import ROOT

    marker = uuid.uuid4().hex[:12]
    script = tmp_path / "endless.py"
    script.write_text(
        "from manim import *\nimport time\nfrom manim.utils.module_ops import importlib as L\n"
        "class Endless(Scene):\n    def construct(self):\n"
        f"        L.import_module('subprocess').Popen(['sh', '-c', 'sleep 600; :', {marker!r}])\n"
        f"        while True:\n            time.sleep(0.05)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "render", str(script), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    started = process.stderr.readline()
    while started and not started.startswith("Rendering Endless"):  # its rows are stored
        started = process.stderr.readline()
    deadline = time.monotonic() + 60
    while not (found := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found, process.communicate(timeout=30)
    return process, found[0]


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_sigterm_stops_the_render_like_ctrl_c(tmp_path, signal_name):
    """`kill`, `timeout` and a cancelled CI job send SIGTERM, a closed terminal SIGHUP: the render's
    group dies with the command."""
    import signal

    process, pid = _start_endless_render(tmp_path)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=30)
    assert (
        process.returncode == 130
        and err.strip().splitlines()[-1] == "Error: interrupted."
        and "Traceback" not in err
    )
    assert process_gone(pid, 5)
    rows = run_cli_process("executions", "list", "--json").json()
    assert [(row["status"], row["error"]) for row in rows] == [("interrupted", "interrupted")]


def test_a_killed_command_takes_its_render_along_and_the_row_is_settled_later(tmp_path, isolated_home):
    """SIGKILL leaves no handler to run: the render child dies with its parent (no render outlives its
    time limit's keeper), and the row, once past its deadline, reads as interrupted, not running forever."""
    import signal

    process, pid = _start_endless_render(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process_gone(pid, 5)
    (row,) = run_cli_process("executions", "list", "--json").json()
    assert row["status"] == "running"  # within its time limit it may still be someone's render
    db = sqlite3.connect(isolated_home / "manimagent.db")
    db.execute("UPDATE execution SET deadline = '2000-01-01 00:00:00.000000'")  # the limit has passed
    db.commit()
    (row,) = run_cli_process("executions", "list", "--json").json()
    assert row["status"] == "interrupted" and row["error"].startswith("abandoned")
    assert run_cli_process("scripts", "show", row["script"], "--json").json()["status"] == "failed"


def test_a_script_left_debugging_by_a_dead_process_settles_as_failed(cli, isolated_home):
    """A process killed during an LLM repair leaves its script `debugging`; once longer ago than a
    repair can take (LLM timeout x tries + grace), reading it says failed."""
    old, recent = (
        cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()["id"] for _ in range(2)
    )
    db = sqlite3.connect(isolated_home / "manimagent.db")
    db.execute("UPDATE script SET status = 'debugging'")
    db.execute("UPDATE script SET updated_at = '2000-01-01 00:00:00.000000' WHERE id = ?", (old,))
    db.commit()
    assert cli("scripts", "show", recent, "--json").json()["status"] == "debugging"  # may be someone's repair
    shown = cli("scripts", "show", old, "--json").json()
    assert shown["status"] == "failed" and shown["error"].startswith("abandoned")
    assert {row["id"]: row["status"] for row in cli("scripts", "list", "--json").json()} == {
        old: "failed",
        recent: "debugging",
    }


@pytest.mark.parametrize("timeout", [1e12, float("inf")])
def test_waiting_for_a_render_takes_any_time_limit(timeout):
    """A time limit past what poll(2) takes (a huge render.timeout) is waited in slices, not an error."""
    import subprocess
    import sys

    from manimagent.render.process import wait_exit

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    assert wait_exit(child, timeout) == 0


def test_waiting_for_a_render_raises_at_its_deadline_and_wakes_when_it_ends():
    import subprocess
    import sys
    import time

    from manimagent.render.process import wait_exit

    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_exit(slow, 0.3)
    finally:
        slow.kill()
        slow.wait()
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    started = time.monotonic()
    assert wait_exit(quick, 60) == 0 and time.monotonic() - started < 30
