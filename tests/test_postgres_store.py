"""PostgreSQL as the store: every CLI command and `serve` on MANIMAGENT_DATABASE_URL, migrations
under a lock, a newer schema refused, and the server's faults as one-line errors (a throwaway
cluster from tests/postgres_cluster.py; real renders, real child processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from conftest import EXAMPLES, ROOT, assert_one_line_error, run_cli_process
from server_fixtures import start_server

pytestmark = [pytest.mark.postgres]


def _one(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _ok(*args: str):
    result = run_cli_process(*args)
    assert result.code == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


@pytest.mark.slow
def test_every_cli_command_works_on_postgresql(postgres_url, isolated_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MANIMAGENT_DATABASE_URL", postgres_url)
    imported = _ok("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()
    rendered = _ok("render", str(EXAMPLES / "circle.py"), "--json").json()
    assert rendered["success"] is True and os.path.getsize(rendered["output_path"]) > 1000
    generated = _ok("generate", "Animate a circle", "--json").json()
    assert generated["success"] is True and generated["provider"] == "offline"
    listed = _ok("scripts", "list", "--json").json()
    assert {row["id"] for row in listed} == {imported["id"], rendered["script_id"], generated["script_id"]}
    assert (
        _ok("scripts", "show", imported["id"][:6], "--json").json()["content"]
        == (EXAMPLES / "circle.py").read_text()
    )
    _ok("scripts", "export", imported["id"], "--output", str(tmp_path / "out.py"))
    assert (tmp_path / "out.py").read_text() == (EXAMPLES / "circle.py").read_text()
    executions = _ok("executions", "list", "--json").json()
    assert {row["status"] for row in executions} == {"succeeded"} and len(executions) == 2
    shown = _ok("executions", "show", rendered["execution_id"][:8], "--log", "--json").json()
    assert shown["status"] == "succeeded" and shown["engine"] == "local"
    retried = _ok("executions", "retry", rendered["execution_id"], "--json").json()
    assert retried["success"] is True and retried["execution_id"] != rendered["execution_id"]
    assert _ok("scripts", "refine", generated["script_id"], "make it red", "--json").json()["success"] is True
    _ok("scripts", "execute", imported["id"], "--json")
    _ok(
        "providers",
        "add",
        "local-llm",
        "--type",
        "openai",
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
    )
    _ok("providers", "update", "local-llm", "--priority", "5")
    assert [row["priority"] for row in _ok("providers", "list", "--json").json()] == [5]
    _ok("providers", "remove", "local-llm")
    _ok("containers", "add", "warm")
    assert [row["name"] for row in _ok("containers", "list", "--json").json()] == ["warm"]
    _ok("containers", "rm", "warm", "--yes")
    _ok("auth", "waitlist")
    _ok("cache", "info")
    _ok("scripts", "rm", imported["id"], "--yes")
    assert _ok("scripts", "list", "--status", "successful", "--json").json()
    # all of it went to PostgreSQL: the home has no SQLite file, the database has the rows
    assert not (isolated_home / "manimagent.db").exists()
    assert (
        _one(postgres_url, "SELECT count(*) FROM script")[0][0] == 3
    )  # rendered, generated and its refinement


@pytest.mark.server
@pytest.mark.slow
def test_two_serve_instances_share_one_postgresql_store(postgres_url, tmp_path):
    """Two `serve` processes with their own homes on one database: an account made on one logs
    in on the other, and a render queued by one (run by a worker) is listed by the other."""
    from queue_fixtures import start_site

    site = start_site(tmp_path / "one", postgres_url)
    second = start_server(tmp_path / "two", env={"MANIMAGENT_DATABASE_URL": postgres_url})
    first = site.server
    try:
        site.start_worker("w")
        alice = first.account("alice@example.com")
        assert second.login("alice@example.com").status_code == 200
        script = first.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        )
        assert script.status_code == 201, script.text
        result = first.post(f"/api/agents/scripts/{script.json()['id']}/execute/", headers=alice.headers)
        assert result.status_code == 200 and result.json()["success"] is True, result.text
        listed = second.get("/api/agents/executions/", headers=alice.headers).json()
        assert [row["id"] for row in listed] == [result.json()["execution_id"]] and listed[0][
            "status"
        ] == "succeeded"
        assert first.get(result.json()["output_url"]).headers["content-type"] == "video/mp4"
        pages = first.get("/api/agents/scripts/?limit=1&offset=0", headers=alice.headers)
        assert pages.status_code == 200 and len(pages.json()) == 1
    finally:
        site.stop()
        second.stop()
    assert not (first.home / "manimagent.db").exists() and not (tmp_path / "two" / "manimagent.db").exists()


def test_processes_opening_a_new_postgresql_database_at_once_all_succeed(postgres_cluster):
    from manimagent.store.migrate import head_revision

    code = "from manimagent.store.db import get_engine; import sys; get_engine(sys.argv[1]); print('ok')"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    for _ in range(3):
        url = postgres_cluster.url(postgres_cluster.create_database())
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
            for _ in range(4)
        ]
        outcomes = [(process.wait(timeout=300), process.stderr.read().decode()) for process in processes]
        assert all(code_ == 0 for code_, _ in outcomes), outcomes
        assert _one(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_a_postgresql_database_from_a_newer_version_is_refused(postgres_url, monkeypatch):
    from manimagent.store.migrate import head_revision

    monkeypatch.setenv("MANIMAGENT_DATABASE_URL", postgres_url)
    _ok("scripts", "import", str(EXAMPLES / "circle.py"))
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    result = run_cli_process("scripts", "list")
    assert_one_line_error(result, 3)
    assert (
        "newer manimagent" in result.stderr
        and "0099_from_the_future" in result.stderr
        and head_revision() in result.stderr
    )
    assert _one(postgres_url, "SELECT count(*) FROM script") == [(1,)]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "postgresql+psycopg://someone:hunter2secret@127.0.0.1:{closed}/db",
            ["cannot reach the database", "Start PostgreSQL"],
        ),
        ("postgresql+psycopg://postgres@127.0.0.1:{port}/no_such_database", ["does not exist", "Create it"]),
        (
            "postgres://postgres@127.0.0.1:{port}/no_such_database",
            ["does not exist"],
        ),  # the short scheme means psycopg
        ("mysql://someone@127.0.0.1/db", ["SQLite or PostgreSQL, not mysql"]),
        ("not a url", ["not a SQLAlchemy URL", "postgresql+psycopg://"]),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_exit_3(postgres_cluster, monkeypatch, url, words):
    from server_fixtures import free_port

    monkeypatch.setenv("MANIMAGENT_DATABASE_URL", url.format(port=postgres_cluster.port, closed=free_port()))
    for args in (["scripts", "list"], ["scripts", "list", "--json"]):
        result = run_cli_process(*args)
        assert_one_line_error(result, 3)
        assert all(word in result.stderr for word in words), result.stderr
        assert "hunter2secret" not in result.stderr + result.stdout


@pytest.mark.server
def test_serve_without_its_postgresql_answers_503_with_the_fix(postgres_cluster, tmp_path):
    """serve starts anyway (the database may come back), logs the fault in one line, and each
    request that needs the store is a JSON 503 saying what is wrong."""
    from server_fixtures import free_port

    server = start_server(
        tmp_path / "home",
        env={
            "MANIMAGENT_DATABASE_URL": f"postgresql+psycopg://postgres:pw-not-shown@127.0.0.1:{free_port()}/db"
        },
    )
    try:
        answer = server.register("alice@example.com")
        assert answer.status_code == 503, answer.text
        assert "cannot reach the database" in answer.json()["error"] and "pw-not-shown" not in answer.text
    finally:
        server.stop()
    log = server.log.read_text()
    assert (
        "the store cannot be used: cannot reach the database" in log
        and "Traceback" not in log
        and "pw-not-shown" not in log
    )


def test_config_show_never_prints_the_database_password(cli, monkeypatch):
    monkeypatch.setenv(
        "MANIMAGENT_DATABASE_URL", "postgresql+psycopg://bob:hunter2secret@db.internal:5432/manim"
    )
    shown = {row["name"]: row["value"] for row in cli("config", "show", "--json").json()}
    assert shown["database_url"] == "postgresql+psycopg://bob:***@db.internal:5432/manim"
    assert "hunter2secret" not in cli("config", "show").stdout
