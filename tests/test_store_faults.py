"""The store under faults: a damaged database, an unwritable home, a home that is a file, a full
disk and a database from a newer version each give one `Error:` line with its fix and exit 3
(`--json`: the failure document), and the same in `serve` a JSON 503; nothing stored is lost.

The full disk is RLIMIT_FSIZE in the child process (SQLite's writes past it fail with EFBIG, as on
a full file system); the unwritable home is a 0555 folder with the child's CAP_DAC_OVERRIDE dropped
by `setpriv` (the tests run as root, whom permissions do not stop otherwise)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import EXAMPLES, ROOT, assert_one_line_error, run_cli_process
from server_fixtures import LiveServer, free_port, server_env, start_server

SETPRIV = shutil.which("setpriv")


def _db(home: Path) -> Path:
    return home / "manimagent.db"


def _stored(home: Path) -> dict[str, list]:
    """Every script and execution id, and every user (the rows that must survive a fault)."""
    with sqlite3.connect(_db(home), timeout=30) as conn:
        return {
            "scripts": sorted(row[0] for row in conn.execute("SELECT id FROM script")),
            "executions": sorted(row[0] for row in conn.execute("SELECT id FROM execution")),
            "users": sorted(conn.execute("SELECT id, email FROM user").fetchall()),
        }


def _home_with_rows(home: Path) -> dict[str, list]:
    """A home with two scripts, an execution row and an account, checkpointed into the db file."""
    for _ in range(2):
        assert run_cli_process("scripts", "import", str(EXAMPLES / "circle.py")).code == 0
    with sqlite3.connect(_db(home)) as conn:
        script = conn.execute("SELECT id FROM script LIMIT 1").fetchone()[0]
        conn.execute(
            "INSERT INTO execution (id, script_id, attempt_number, engine, quality, format, scenes, "
            "status, is_successful, log, outputs,"
            " original_script, fixes, created_at, layout) VALUES ('e-kept', ?, 1, 'local', 'low', "
            "'mp4', '[]', 'succeeded', 1, 'log', '[]',"
            " 'code', '[]', '2026-01-01 00:00:00', '[]')",
            (script,),
        )
        conn.execute(
            "INSERT INTO user (email, password_hash, email_verified, is_admin, is_active, date_joined) "
            "VALUES ('kept@example.com', 'x', 1, 0, 1, '2026-01-01')"
        )
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = _stored(home)
    assert len(stored["scripts"]) == 2 and stored["executions"] == ["e-kept"] and len(stored["users"]) == 1
    return stored


def _assert_fault(result, *words: str) -> None:
    assert_one_line_error(result, 3)
    line = next(line for line in result.stderr.splitlines() if line.startswith("Error:"))
    for word in words:
        assert word in line, line


# ---- a damaged database ------------------------------------------------------------------------------


def _garbage(data: bytes) -> bytes:
    return b"this is not a database\n" * 40


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def _overwritten(data: bytes) -> bytes:
    return data[:100] + os.urandom(len(data) - 100)  # the header stays, the pages are noise


@pytest.mark.parametrize(
    "damage", [_garbage, _truncated, _overwritten], ids=["garbage", "truncated", "overwritten"]
)
def test_a_damaged_database_is_one_line_exit_3_and_is_left_as_it_was(isolated_home, damage):
    _home_with_rows(isolated_home)
    broken = damage(_db(isolated_home).read_bytes())
    _db(isolated_home).write_bytes(broken)
    for suffix in ("-wal", "-shm"):
        Path(f"{_db(isolated_home)}{suffix}").unlink(missing_ok=True)
    for args in (
        ("scripts", "list"),
        ("scripts", "import", str(EXAMPLES / "circle.py")),
        ("executions", "list"),
    ):
        result = run_cli_process(*args)
        _assert_fault(result, "damaged", "mv ")
    as_json = run_cli_process("scripts", "list", "--json")
    assert as_json.code == 3
    doc = json.loads(as_json.stdout)
    assert doc["success"] is False and "damaged" in doc["error"] and doc["hint"]
    assert _db(isolated_home).read_bytes() == broken  # nothing written over what may still be rescued


# ---- the home -----------------------------------------------------------------------------------------


def test_a_home_that_is_a_file_is_one_line_exit_3(tmp_path):
    home = tmp_path / "not-a-folder"
    home.write_text("just a file\n")
    for args in (
        ("scripts", "list"),
        ("scripts", "import", str(EXAMPLES / "circle.py")),
        ("auth", "users", "--json"),
    ):
        result = run_cli_process(*args, env={"MANIMAGENT_HOME": str(home)})
        _assert_fault(result, str(home), "MANIMAGENT_HOME")
    assert home.read_text() == "just a file\n"


@pytest.mark.skipif(
    os.geteuid() == 0 and SETPRIV is None, reason="needs setpriv to drop root's CAP_DAC_OVERRIDE"
)
def test_an_unwritable_home_is_one_line_exit_3_and_keeps_its_rows(isolated_home):
    stored = _home_with_rows(isolated_home)
    prefix = (
        [
            SETPRIV,
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
            "--",
        ]
        if os.geteuid() == 0
        else []
    )
    os.chmod(_db(isolated_home), 0o444)
    os.chmod(isolated_home, 0o555)
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "manimagent", "scripts", "import", str(EXAMPLES / "circle.py")],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        from conftest import CliResult

        _assert_fault(CliResult(done.returncode, done.stdout, done.stderr), "for writing", "MANIMAGENT_HOME")
    finally:
        os.chmod(isolated_home, 0o755)
        os.chmod(_db(isolated_home), 0o644)
    assert _stored(isolated_home) == stored


# ---- a full disk ------------------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_exit_3_and_keeps_every_row(isolated_home, tmp_path):
    stored = _home_with_rows(isolated_home)
    big = tmp_path / "big.py"
    big.write_text(
        (EXAMPLES / "circle.py").read_text()
        + "".join(f"# padding line {i} {'.' * 60}\n" for i in range(6000))
    )
    limit = _db(isolated_home).stat().st_size + 64_000  # room for a little, not for this script

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    for json_ in (False, True):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "manimagent",
                "scripts",
                "import",
                str(big),
                *(["--json"] if json_ else []),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            preexec_fn=small_disk,
        )
        from conftest import CliResult

        _assert_fault(CliResult(done.returncode, done.stdout, done.stderr), "disk is full", "Free space")
        if json_:
            assert json.loads(done.stdout)["success"] is False
    assert _stored(isolated_home) == stored  # the script was not stored half, the others are all there
    assert (
        run_cli_process("scripts", "import", str(EXAMPLES / "circle.py")).code == 0
    )  # space again: it works


# ---- a newer database ----------------------------------------------------------------------------------


def test_a_database_from_a_newer_version_is_refused_naming_both_versions(isolated_home):
    from manimagent.store.migrate import head_revision

    stored = _home_with_rows(isolated_home)
    with sqlite3.connect(_db(isolated_home)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    result = run_cli_process("scripts", "list")
    _assert_fault(result, "newer manimagent", "0099_from_the_future", head_revision(), "Upgrade")
    assert _stored(isolated_home) == stored
    with sqlite3.connect(_db(isolated_home)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0099_from_the_future",)
        ]


# ---- migrations ----------------------------------------------------------------------------------------


def test_two_processes_opening_a_new_home_at_once_both_succeed(tmp_path):
    code = "from manimagent.store.db import get_engine; import sys; get_engine(sys.argv[1]); print('ok')"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    for round_ in range(6):
        url = f"sqlite:///{tmp_path / f'round{round_}' / 'manimagent.db'}"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
            for _ in range(4)
        ]
        outcomes = [(process.wait(timeout=300), process.stderr.read().decode()) for process in processes]
        assert all(code_ == 0 for code_, _ in outcomes), outcomes
        with sqlite3.connect(tmp_path / f"round{round_}" / "manimagent.db") as conn:
            from manimagent.store.migrate import head_revision

            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]


def test_the_user_id_migration_keeps_every_row_and_reference(tmp_path):
    """An 0007 database with accounts, tokens and scripts: 0008 rebuilds `user` with AUTOINCREMENT,
    keeping ids and rows; the counter starts past every id any row names."""
    from manimagent.store.db import dispose_engines, get_engine
    from manimagent.store.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    for name, sql in MIGRATIONS:
        if name >= "0008":
            break
        old.executescript(sql)
    old.execute(
        "CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"
    )
    old.executemany(
        "INSERT INTO _migrations (name) VALUES (?)", [(name,) for name, _ in MIGRATIONS if name < "0008"]
    )
    for user_id in (1, 2, 5):
        old.execute(
            "INSERT INTO user (id, email, password_hash, email_verified, is_admin, is_active, "
            "date_joined, first_name, last_name)"
            " VALUES (?, ?, 'h', 1, 0, 1, '2026-01-01', 'F', 'L')",
            (user_id, f"u{user_id}@example.com"),
        )
    old.execute(
        "INSERT INTO refreshtoken (jti, family, user_id, created_at, expires_at) VALUES ('j', 'f', 7, "
        "'2026-01-01', '2027-01-01')"
    )
    old.execute(
        "INSERT INTO script (id, owner_id, prompt, content, scenes, status, source, prompt_tokens, "
        "completion_tokens, total_tokens, fixes,"
        " provider_attempts, created_at, updated_at) VALUES ('s1', 5, 'p', 'code', '[]', 'successful', "
        "'imported', 0, 0, 0, '[]', '[]',"
        " '2026-01-01', '2026-01-01')"
    )
    old.commit()
    before = old.execute("SELECT * FROM user ORDER BY id").fetchall()
    old.close()
    get_engine(f"sqlite:///{path}")
    dispose_engines()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM user ORDER BY id").fetchall() == before
    assert conn.execute("SELECT owner_id FROM script WHERE id = 's1'").fetchone() == (5,)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == [
        ("refreshtoken", 1, "user", 0)
    ]  # the token of a user deleted by hand, as before
    assert "AUTOINCREMENT" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'user'").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "INSERT INTO user (email, password_hash, email_verified, is_admin, is_active, date_joined) "
        "VALUES ('new@example.com', 'h', 1, 0, 1, '2026-01-02')"
    )
    assert conn.execute("SELECT id FROM user WHERE email = 'new@example.com'").fetchone() == (
        8,
    )  # past the token's 7


# ---- one transaction, and the sweep ----------------------------------------------------------------------


def test_a_failed_first_execution_write_leaves_no_script_behind(isolated_home):
    stored = _home_with_rows(isolated_home)
    with sqlite3.connect(_db(isolated_home)) as conn:
        conn.execute(
            "CREATE TRIGGER no_room BEFORE INSERT ON execution BEGIN SELECT RAISE(ABORT, 'database or "
            "disk is full'); END"
        )
    result = run_cli_process("render", str(EXAMPLES / "circle.py"))
    _assert_fault(result, "disk is full")
    assert _stored(isolated_home) == stored  # no script `executing` without its execution


def test_the_local_cli_settles_an_orphaned_script(isolated_home):
    _home_with_rows(isolated_home)
    with sqlite3.connect(_db(isolated_home)) as conn:
        orphan = conn.execute(
            "SELECT id FROM script WHERE id NOT IN (SELECT script_id FROM execution)"
        ).fetchone()[0]
        conn.execute(
            "UPDATE script SET status = 'executing', updated_at = '2000-01-01 00:00:00' WHERE id = ?",
            (orphan,),
        )
    shown = run_cli_process("scripts", "show", orphan, "--json").json()
    assert shown["status"] == "failed" and shown["error"].startswith("abandoned")


def test_serve_reads_take_no_write_lock_and_its_sweep_settles_orphans(tmp_path):
    home = tmp_path / "sweep-home"
    home.mkdir()
    (home / "config.toml").write_text("[server]\nsweep_seconds = 1\n")
    live = start_server(home)
    try:
        alice = live.account()
        script = live.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        ).json()
        locker = sqlite3.connect(_db(home), timeout=30, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        locker.execute(
            "UPDATE script SET status = 'executing', updated_at = '2000-01-01 00:00:00' WHERE id = ?",
            (script["id"],),
        )
        started = time.monotonic()
        for path in (
            "/api/agents/scripts/",
            f"/api/agents/scripts/{script['id']}/",
            "/api/agents/executions/",
        ):
            assert live.get(path, headers=alice.headers).status_code == 200
        assert time.monotonic() - started < 20  # not waiting for the lock (its timeout is 30 s)
        locker.execute("COMMIT")
        locker.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = live.get(f"/api/agents/scripts/{script['id']}/", headers=alice.headers).json()
            if shown["status"] == "failed":
                break
            time.sleep(0.5)
        assert shown["status"] == "failed" and shown["error"].startswith("abandoned")
    finally:
        live.stop()


# ---- serve: a JSON 503 ----------------------------------------------------------------------------------


def test_serve_answers_503_json_for_a_damaged_database(tmp_path):
    home = tmp_path / "broken-home"
    home.mkdir()
    _db(home).write_bytes(b"this is not a database\n" * 40)
    live = start_server(home)
    try:
        for method, path, body in (
            ("POST", "/api/auth/login/", {"email": "a@example.com", "password": "x" * 12}),
            ("GET", "/api/agents/scripts/", None),
        ):
            signed = live.token({"sub": "1", "type": "access", "fam": "f"})  # valid: the store is asked
            answer = live.request(method, path, json=body, headers={"Authorization": f"Bearer {signed}"})
            assert answer.status_code == 503, answer.text
            assert "damaged" in answer.json()["error"] and answer.json()["hint"]
        assert "Traceback" not in live.log.read_text()
    finally:
        live.stop()
    assert _db(home).read_bytes() == b"this is not a database\n" * 40


def test_serve_answers_503_json_when_its_home_is_a_file(tmp_path):
    home = tmp_path / "home-file"
    home.write_text("a file\n")
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "serve", "--port", str(port)],
        env=server_env(home, {"MANIMAGENT_SECRET_KEY": "s" * 48}),
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    live = LiveServer(f"http://127.0.0.1:{port}", home, None, process, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = live.post("/api/auth/login/", json={"email": "a@example.com", "password": "x" * 12})
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.2)
        assert answer.status_code == 503 and str(home) in answer.json()["error"] and answer.json()["hint"]
    finally:
        live.stop()
    assert home.read_text() == "a file\n"
