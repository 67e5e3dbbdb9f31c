"""Honest repair: without a real LLM the loop stops after the deterministic fixes and keeps the
user's code; fixes after a failure are recorded; the failing line is a line of the user's file;
a SIGTERM landing in the database pool's reset prints no SQLAlchemy traceback."""

from __future__ import annotations

import logging
import os
import signal

import pytest
from sqlalchemy import event
from sqlmodel import select

from manimagent.attempt import NewScript, RenderOptions
from manimagent.context import local_context
from manimagent.pipeline import run_attempts
from manimagent.render.base import OutputFormat, Quality, RenderFailure, RenderResult
from manimagent.render.logparse import parse_failure, script_line
from manimagent.scriptcheck.fixes import fix_after_failure
from manimagent.services.generate import NO_LLM_REPAIR, repairer_for
from manimagent.store.models import Execution, Script

# fails twice: a 2-D point the deterministic fix repairs, then an error no deterministic fix knows
FAILS = (
    "from manim import *\n"
    "class Broken(Scene):\n"
    "    def construct(self):\n"
    "        dot = Dot(np.array([1, 2]))\n"
    "        self.play(Create(dot), run_time=0.3)\n"
    "        self.play(dot.animate.undefined_method(), run_time=0.3)\n"
)


# --- real renders: no LLM configured ------------------------------------------------------------


@pytest.mark.slow
def test_render_without_an_llm_stops_after_the_deterministic_fixes(cli, tmp_path):
    file = tmp_path / "broken.py"
    file.write_text(FAILS)
    result = cli("render", str(file), "--max-attempts", "3", "--json")
    assert result.code == 1 and "Traceback" not in result.stderr
    doc = result.json()
    assert doc["success"] is False and doc["status"] == "failed" and doc["attempts"] == 2
    assert "undefined_method" in doc["error"] and "line 6" in doc["error"]
    assert doc["repair_stopped"] == NO_LLM_REPAIR
    assert [(fix["name"], fix["attempt"], fix["stage"]) for fix in doc["fixes"]] == [
        ("3d-point", 2, "after-failure")
    ]
    assert result.stderr.count(NO_LLM_REPAIR) == 1 and "offline" not in result.stderr.replace(
        NO_LLM_REPAIR, ""
    )
    script = cli("scripts", "show", doc["script_id"], "--json").json()
    assert script["content"] == FAILS and script["status"] == "failed"  # the user's code, not a title card
    rows = cli("executions", "list", "--script", doc["script_id"], "--json").json()
    assert len(rows) == 2 and {row["status"] for row in rows} == {"failed"}
    second = next(row for row in rows if row["attempt_number"] == 2)
    assert [fix["name"] for fix in second["fixes"]] == ["3d-point"] and second["fixes"][0][
        "stage"
    ] == "after-failure"


@pytest.mark.slow
def test_scripts_execute_and_retry_without_an_llm_keep_the_code(cli, tmp_path):
    file = tmp_path / "raises.py"
    file.write_text(FAILS.replace("np.array([1, 2])", "ORIGIN"))
    script_id = cli("scripts", "import", str(file), "--json").json()["id"]
    result = cli("scripts", "execute", script_id, "--max-attempts", "3", "--json")
    assert result.code == 1
    doc = result.json()
    assert doc["attempts"] == 1 and doc["repair_stopped"] == NO_LLM_REPAIR and doc["fixes"] == []
    assert cli("scripts", "show", script_id, "--json").json()["content"] == file.read_text()
    retried = cli("executions", "retry", doc["execution_id"], "--json")
    assert retried.code == 1 and retried.json()["attempts"] == 1
    assert cli("scripts", "show", script_id, "--json").json()["content"] == file.read_text()


def test_an_explicit_offline_provider_never_repairs(isolated_home):
    ctx = local_context()
    with ctx.session() as session:
        script = Script(prompt="p", content="c", provider="offline")
        session.add(script)
        session.commit()
        script_id = script.id
    options = RenderOptions(
        engine=_FailingEngine(), quality=Quality.LOW, format=OutputFormat.AUTO, max_attempts=3, timeout=10
    )
    assert repairer_for(ctx, options).unavailable(script_id) == NO_LLM_REPAIR
    assert repairer_for(ctx, options, "offline").unavailable(script_id) == NO_LLM_REPAIR


def test_a_configured_llm_is_available_for_repairs(cli, isolated_home):
    assert (
        cli("providers", "add", "real", "--type", "openai", "--base-url", "http://127.0.0.1:9/v1").code == 0
    )
    ctx = local_context()
    with ctx.session() as session:
        script = Script(prompt="p", content="c")
        session.add(script)
        session.commit()
        script_id = script.id
    options = RenderOptions(
        engine=_FailingEngine(), quality=Quality.LOW, format=OutputFormat.AUTO, max_attempts=3, timeout=10
    )
    assert repairer_for(ctx, options).unavailable(script_id) is None


# --- the pipeline with a fake engine ------------------------------------------------------------


class _FailingEngine:
    """Fails with `failures` in turn, then renders."""

    name = "fake"
    has_latex = True

    def __init__(self, failures: list[RenderFailure] | None = None):
        self.failures = list(failures or [])
        self.codes: list[str] = []

    def render(self, request, staging, on_progress=None):
        self.codes.append(request.code)
        if self.failures:
            return RenderResult(ok=False, log="boom", failure=self.failures.pop(0))
        staging.mkdir(parents=True, exist_ok=True)
        out = staging / f"{request.scenes[0]}.mp4"
        out.write_bytes(b"video")
        return RenderResult(ok=True, outputs=[out], log="ok")


def test_fixes_after_a_failure_are_recorded_on_the_attempt_that_renders_them(isolated_home):
    ctx = local_context()
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        "        self.add(Dot().move_to(np.array([1, 2])))\n"
    )
    broadcast = RenderFailure(
        "ValueError", "could not broadcast input array from shape (1,2) into shape (1,3)", 4
    )
    engine = _FailingEngine([broadcast])
    options = RenderOptions(
        engine=engine, quality=Quality.LOW, format=OutputFormat.MP4, max_attempts=2, timeout=10
    )
    result = run_attempts(ctx, NewScript(code=code, prompt="p"), options)
    assert result.success and "np.array([1, 2, 0])" in engine.codes[1]
    assert result.fixes == [
        {
            "name": "3d-point",
            "description": "2-D point given a z coordinate of 0",
            "line": 4,
            "attempt": 2,
            "stage": "after-failure",
        }
    ]
    with ctx.session() as session:
        first, second = sorted(session.exec(select(Execution)).all(), key=lambda row: row.attempt_number)
        assert first.fixes == [] and [fix["name"] for fix in second.fixes] == ["3d-point"]


def test_a_failing_line_outside_the_users_file_is_not_reported(isolated_home):
    ctx = local_context()
    engine = _FailingEngine([RenderFailure("RuntimeError", "bad", 320)])
    options = RenderOptions(
        engine=engine, quality=Quality.LOW, format=OutputFormat.MP4, max_attempts=1, timeout=10
    )
    code = "from manim import *\nclass A(Scene):\n    def construct(self):\n        self.add(Dot())\n"
    result = run_attempts(ctx, NewScript(code=code, prompt="p"), options)
    assert result.error == "RuntimeError: bad"
    with ctx.session() as session:
        assert session.exec(select(Execution)).one().error_line is None


# --- parsing and the 2-D point trigger ----------------------------------------------------------

MANIM_FRAME_LAST = """
│ /tmp/manimagent-job-ab/scene.py:7 in construct                                                    │
│ ❱ 7 │   │   self.play(FadeIn(x))                                                                  │
│ /work/main/.venv/lib/python3.11/site-packages/manim/scene/scene.py:320 in render                  │
│ /usr/lib/python3/dist-packages/manim/scene/scene.py:1140 in play                                  │
╰───────────────────────────────────────────────────────────────────────────────────────────────────╯
TypeError: Unexpected argument None passed to Scene.play().
"""
PLAIN = (
    'Traceback (most recent call last):\n  File "/work/jobs/0af3/scene.py", line 12, in construct\n'
    '  File "/opt/manim/scene/scene.py", line 99, in play\nValueError: x\n'
)


def test_only_the_scripts_own_frames_give_the_failing_line():
    assert parse_failure(MANIM_FRAME_LAST).line == 7
    assert script_line(PLAIN) == 12
    assert script_line("│ …/manim/scene/scene.py:320 in render │") is None
    assert script_line('File "scene.py", line 3, in construct') == 3


def test_the_2d_point_fix_triggers_on_1_by_2_shapes_too():
    code = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n"
        "        Dot().move_to(np.array([1, 2]))\n"
    )
    for message in (
        "could not broadcast input array from shape (1,2) into shape (1,3)",
        "operands could not be broadcast together with shapes (2,) (3,)",
    ):
        fixed, fixes = fix_after_failure(code, RenderFailure("ValueError", message), True)
        assert "np.array([1, 2, 0])" in fixed and len(fixes) == 1
    assert (
        fix_after_failure(
            code, RenderFailure("ValueError", "could not broadcast from shape (12,) into (3,)"), True
        )[1]
        == []
    )


# --- SIGTERM during the repair step's database work ---------------------------------------------


def test_a_sigterm_during_a_pool_reset_logs_no_traceback(isolated_home, caplog):
    """Reproduces the "Exception during reset" traceback: SIGTERM (a KeyboardInterrupt, as the
    console's handler raises it) arriving while SQLAlchemy resets a connection returned to its pool."""
    from manimagent.store.db import get_engine

    ctx = local_context()
    engine = get_engine(ctx.settings.database_url_effective)

    def terminated(signum, frame):
        raise KeyboardInterrupt

    def signal_during_reset(dbapi_connection, record, reset_state):
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, terminated)
    event.listen(engine, "reset", signal_during_reset)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    try:
        with pytest.raises(KeyboardInterrupt):
            with ctx.session() as session:
                session.get(Script, "nothing")
    finally:
        event.remove(engine, "reset", signal_during_reset)
        signal.signal(signal.SIGTERM, previous)
    assert not [record for record in caplog.records if "Exception during reset" in record.getMessage()]
    with ctx.session() as session:  # the pool gave up that connection and still works
        assert session.get(Script, "nothing") is None
