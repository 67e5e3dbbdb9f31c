"""Opening the database: one engine per URL, WAL and a busy timeout, migrations on first open."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from manimagent.errors import ConfigError
from manimagent.store.migrations import MIGRATIONS

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
BUSY_TIMEOUT_MS = 30_000


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


class _InterruptedReset(logging.Filter):
    """Drops SQLAlchemy's "Exception during reset" traceback when the exception is Ctrl-C or SIGTERM
    (raised as KeyboardInterrupt) landing while the pool resets a connection: the pool still
    discards that connection and re-raises, and the CLI reports the interruption in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], (KeyboardInterrupt, SystemExit)))


def _quiet_interrupted_resets(engine: Engine) -> None:
    logger = getattr(engine.pool, "logger", None)
    if isinstance(logger, logging.Logger) and not any(isinstance(item, _InterruptedReset) for item in logger.filters):
        logger.addFilter(_InterruptedReset())


def apply_migrations(engine: Engine) -> list[str]:
    """Apply the migrations this database lacks; returns their names."""
    applied: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"))
        done = {row[0] for row in conn.execute(text("SELECT name FROM _migrations"))}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(text(statement))
            conn.execute(text("INSERT INTO _migrations (name) VALUES (:name)"), {"name": name})
            applied.append(name)
    return applied


def get_engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
        return engine


def _create(url: str) -> Engine:
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite else {}
    engine = create_engine(url, connect_args=connect_args)
    if is_sqlite:
        event.listen(engine, "connect", _on_sqlite_connect)
    _quiet_interrupted_resets(engine)
    try:
        apply_migrations(engine)
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database {url}: {exc.orig}", hint="Check MANIMAGENT_HOME or MANIMAGENT_DATABASE_URL") from exc
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and before a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def open_session(url: str) -> Iterator[Session]:
    with Session(get_engine(url), expire_on_commit=False) as session:
        yield session
