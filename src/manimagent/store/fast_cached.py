"""The rows of renders the render cache answered whole, written with the standard library's sqlite3:
`render` stores such a hit without importing SQLModel (services/render.py decides what the rows
say, the same columns the pipeline writes; this module only reads and writes them).

Only a SQLite file at this version's schema revision, whose tables have every column written, is
used; anything else raises `FastStoreUnavailable` and the caller takes the normal path, which
migrates, reports store faults and writes through the ORM.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from manimagent.store.revisions import head_revision
from manimagent.store.sqlite import BUSY_TIMEOUT_MS, on_sqlite_connect

SQLITE_PREFIX = "sqlite:///"
SCRIPT_TABLE = "script"
EXECUTION_TABLE = "execution"


class FastStoreUnavailable(Exception):
    """The database is not one this module writes to (not SQLite, not there yet, another schema)."""


def sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL; None for anything else (PostgreSQL, memory, options)."""
    if not url.startswith(SQLITE_PREFIX) or "?" in url:
        return None
    path = url.removeprefix(SQLITE_PREFIX)
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def connect(url: str) -> Iterator[sqlite3.Connection]:
    """A connection to the store at `url` when it is a SQLite file at the current schema revision."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        raise FastStoreUnavailable(f"not an existing SQLite file: {url}")
    try:
        with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as conn:
            on_sqlite_connect(conn, None)
            _check_revision(conn)
            yield conn
    except sqlite3.Error as exc:
        raise FastStoreUnavailable(f"sqlite: {exc}") from exc


def _check_revision(conn: sqlite3.Connection) -> None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:  # no such table: never migrated
        raise FastStoreUnavailable(str(exc)) from exc
    if row is None or row[0] != head_revision():
        raise FastStoreUnavailable(f"schema {row[0] if row else None}, not {head_revision()}")


def execution_output(conn: sqlite3.Connection, execution_id: str) -> tuple[str | None, list[str]] | None:
    """An execution's `output_path` and `outputs`, None when there is no such row."""
    row = conn.execute(
        f"SELECT output_path, outputs FROM {EXECUTION_TABLE} WHERE id = ?", (execution_id,)
    ).fetchone()
    if row is None:
        return None
    return row[0], json.loads(row[1] or "[]")


def write_rows(
    conn: sqlite3.Connection, scripts: list[dict[str, Any]], executions: list[dict[str, Any]]
) -> None:
    """Insert the Script rows, then the Execution rows, in one transaction (all or none)."""
    _check_columns(conn, SCRIPT_TABLE, scripts)
    _check_columns(conn, EXECUTION_TABLE, executions)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, rows in ((SCRIPT_TABLE, scripts), (EXECUTION_TABLE, executions)):
            for row in rows:
                names = list(row)
                conn.execute(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                    [_stored(row[name]) for name in names],
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check_columns(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Every column written exists, and every NOT NULL column without a default is written."""
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()  # cid, name, type, notnull, default, pk
    present = {column[1] for column in info}
    required = {column[1] for column in info if column[3] and column[4] is None and not column[5]}
    for row in rows:
        missing, unknown = required - set(row), set(row) - present
        if missing or unknown:
            raise FastStoreUnavailable(f"{table}: columns differ (missing {missing}, unknown {unknown})")


def _stored(value: Any) -> Any:
    """A value as SQLAlchemy stores it in SQLite: JSON text, 0/1, `YYYY-MM-DD HH:MM:SS.ffffff` (UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value
