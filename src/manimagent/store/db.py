"""Opening the database: one engine per URL, WAL and a busy timeout, migrations on first open
(in `BEGIN IMMEDIATE`, refused for a newer schema), and store faults as one-line ConfigErrors."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from manimagent.errors import ConfigError
from manimagent.store.migrations import MIGRATIONS

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"


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


# ---- migrations ---------------------------------------------------------------------------------


class NewerDatabase(ConfigError):
    """The database was migrated by a newer manimagent: this one would misread it, so it refuses."""


def apply_migrations(engine: Engine) -> list[str]:
    """Apply the migrations this database lacks; returns their names.

    On SQLite they run in one `BEGIN IMMEDIATE` transaction (two processes opening a new home at
    once take turns), with foreign keys checked at the end rather than per statement, so a table
    can be rebuilt. A database that names a migration this version does not know is refused.
    """
    if engine.dialect.name == "sqlite":
        return _apply_sqlite(engine)
    with engine.begin() as conn:
        conn.execute(text(MIGRATIONS_TABLE))
        return _apply_pending(lambda sql, params=None: conn.execute(text(sql), params or {}), str(engine.url))


def _apply_pending(run, where: str) -> list[str]:
    """Run every missing migration through `run(sql, params)`; NewerDatabase first if any is unknown."""
    done = {row[0] for row in run("SELECT name FROM _migrations")}
    check_schema_version(done, where)
    applied: list[str] = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        for statement in filter(str.strip, sql.split(";")):
            run(statement)
        run("INSERT INTO _migrations (name) VALUES (:name)", {"name": name})
        applied.append(name)
    return applied


def check_schema_version(done: set[str], where: str) -> None:
    """NewerDatabase when `done` (the applied migrations) holds one this version does not know."""
    unknown = sorted(done - {name for name, _ in MIGRATIONS})
    if unknown:
        from manimagent import __version__

        raise NewerDatabase(
            f"the database {_where(where)} was written by a newer manimagent (schema {unknown[-1]}); "
            f"this manimagent {__version__} knows schemas up to {MIGRATIONS[-1][0]}",
            hint="Upgrade manimagent (pip install -U manimagent), or point MANIMAGENT_HOME at another home",
        )


def _apply_sqlite(engine: Engine) -> list[str]:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        if _up_to_date(conn, str(engine.url)):  # the usual open: one read, no write lock
            return []
        return _migrate_immediate(conn, str(engine.url))
    finally:
        raw.close()


def _up_to_date(conn, where: str) -> bool:
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone():
            return False
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    finally:
        conn.rollback()
    check_schema_version(done, where)
    return {name for name, _ in MIGRATIONS} <= done


def _migrate_immediate(conn, where: str) -> list[str]:
    saved = conn.isolation_level
    conn.isolation_level = None  # BEGIN and COMMIT are said here
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction, so before BEGIN
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(MIGRATIONS_TABLE)
            dangling = len(conn.execute("PRAGMA foreign_key_check").fetchall())  # left by hand edits: kept as they are
            applied = _apply_pending(lambda sql, params=None: conn.execute(sql, params or {}).fetchall(), where)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if len(broken) > dangling:
                raise ConfigError(f"migrating {_where(where)} would break {len(broken) - dangling} reference(s)", hint="Nothing was changed; report this")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return applied
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.isolation_level = saved


# ---- engines and sessions -----------------------------------------------------------------------


def get_engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
        return engine


def _create(url: str) -> Engine:
    try:
        return _open(url)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - store faults become one line; anything else is re-raised
        fault = store_fault(exc, url)
        if fault is None:
            raise
        raise fault from exc


def _open(url: str) -> Engine:
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
    except BaseException:
        engine.dispose()
        raise
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


# ---- store faults: one line with its fix --------------------------------------------------------

DAMAGED = ("file is not a database", "malformed", "not a database", "file is encrypted")
FULL = ("database or disk is full", "disk i/o error", "file too large", "no space left")
UNWRITABLE = ("readonly database", "read-only", "unable to open database file", "permission denied", "not a directory", "file exists")
STORE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST}


def store_fault(exc: BaseException, url: str | None = None) -> ConfigError | None:
    """The ConfigError (exit 3, HTTP 503) for a failure of the store itself (a damaged file, a full
    disk, an unwritable or wrong home), or None when `exc` is something else."""
    message = _fault_text(exc)
    if message is None:
        return None
    where = _where(url)
    lowered = message.lower()
    if any(word in lowered for word in DAMAGED):
        return ConfigError(
            f"the database {where} is damaged or is not a manimagent database ({message})",
            hint=f"Move it aside (mv {where} {where}.broken) and restore a backup; without one, manimagent starts an empty database there",
        )
    if any(word in lowered for word in FULL):
        return ConfigError(
            f"cannot write the database {where}: the disk is full or failed ({message})",
            hint="Free space on that disk (df -h), then run it again: what was stored before is kept",
        )
    if any(word in lowered for word in UNWRITABLE):
        return ConfigError(
            f"cannot open the database {where} for writing ({message})",
            hint="Make MANIMAGENT_HOME a writable folder (not a file), or point MANIMAGENT_HOME (or MANIMAGENT_DATABASE_URL) elsewhere",
        )
    if "locked" in lowered:
        return ConfigError(f"the database {where} stayed locked by another process ({message})", hint="Run it again when the other process is done")
    return ConfigError(f"the database {where} failed ({message})", hint="Check MANIMAGENT_HOME or MANIMAGENT_DATABASE_URL")


def _fault_text(exc: BaseException) -> str | None:
    """The driver's own words for a database or file-system failure; None for anything else."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return " ".join(str(exc.orig).split())
    if isinstance(exc, sqlite3.Error):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.errno in STORE_ERRNOS:
        text_ = exc.strerror or str(exc)
        return f"{text_}: {exc.filename}" if exc.filename else text_
    return None


def _where(url: str | None) -> str:
    if not url:
        return "(the store)"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)
