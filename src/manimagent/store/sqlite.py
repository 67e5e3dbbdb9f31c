"""How every SQLite connection of the store starts: a busy timeout, WAL, foreign keys on
(store/db.py's engines and store/migrate.py's migration engine alike)."""

from __future__ import annotations

from typing import Any

BUSY_TIMEOUT_MS = 30_000


def on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
