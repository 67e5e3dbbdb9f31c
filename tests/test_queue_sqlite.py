"""The job-queue commands on the default SQLite store: cancel says what it can and cannot do,
and the worker commands say they need PostgreSQL (no cluster needed here)."""

from __future__ import annotations

import sqlite3

from conftest import EXAMPLES, assert_one_line_error


def test_cancel_of_a_finished_render_cancels_nothing(cli):
    imported = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()
    import uuid

    from manimagent.context import local_context
    from manimagent.store.models import Execution

    ctx = local_context()
    with ctx.session() as session:
        row = Execution(
            id=str(uuid.uuid4()), script_id=imported["id"], status="succeeded", is_successful=True
        )
        session.add(row)
        session.commit()
        execution_id = row.id
    done = cli("executions", "cancel", execution_id[:8], "--json")
    assert done.code == 0 and done.json() == {
        "success": False,
        "execution_id": execution_id,
        "status": "succeeded",
    }


def test_cancel_of_a_render_outside_the_queue_is_a_conflict(cli, isolated_home):
    imported = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()
    with sqlite3.connect(isolated_home / "manimagent.db") as conn:
        conn.execute(
            "INSERT INTO execution (id, script_id, attempt_number, engine, quality, format, scenes, "
            "status, is_successful, log, outputs,"
            " original_script, fixes, layout, created_at) VALUES "
            "('0badc0de-0000-4000-8000-000000000001', ?, 1, 'local', 'low', 'mp4', '[]', 'running', 0, "
            "'', '[]',"
            " '', '[]', '[]', '2026-01-01 00:00:00')",
            (imported["id"],),
        )
    result = cli("executions", "cancel", "0badc0de")
    assert_one_line_error(result, 2)
    assert "not on the job queue" in result.stderr and "Ctrl-C" in result.stderr


def test_the_worker_commands_need_postgresql(cli):
    for args in (["worker"], ["workers", "add", "w1"], ["workers", "list", "--json"]):
        result = cli(*args)
        assert_one_line_error(result, 3)
        assert "PostgreSQL" in result.stderr
