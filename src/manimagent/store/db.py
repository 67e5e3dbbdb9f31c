"""Opening the database: one engine per URL (SQLite with WAL and a busy timeout, or PostgreSQL),
migrations on first open (store/migrate.py), and store faults as one-line ConfigErrors."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, create_engine

from manimagent.errors import ConfigError
from manimagent.store.migrate import NewerDatabase, upgrade_engine
from manimagent.store.sqlite import BUSY_TIMEOUT_MS, on_sqlite_connect

__all__ = [
    "NewerDatabase",
    "apply_migrations",
    "dispose_engines",
    "get_engine",
    "open_session",
    "store_fault",
]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class _InterruptedReset(logging.Filter):
    """Drops SQLAlchemy's "Exception during reset" traceback when the exception is Ctrl-C or SIGTERM
    (raised as KeyboardInterrupt) landing while the pool resets a connection: the pool still
    discards that connection and re-raises, and the CLI reports the interruption in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], (KeyboardInterrupt, SystemExit)))


def _quiet_interrupted_resets(engine: Engine) -> None:
    logger = getattr(engine.pool, "logger", None)
    if isinstance(logger, logging.Logger) and not any(
        isinstance(item, _InterruptedReset) for item in logger.filters
    ):
        logger.addFilter(_InterruptedReset())


# ---- migrations (store/migrate.py) ----------------------------------------------------------------


def apply_migrations(engine: Engine) -> list[str]:
    """Migrate the database of `engine` to this version's schema; the names of what was applied.

    One migrating process at a time (`BEGIN IMMEDIATE` on SQLite, an advisory lock on PostgreSQL);
    a database written by a newer manimagent is refused (NewerDatabase).
    """
    return upgrade_engine(engine, _where(str(engine.url)))


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


SQLITE_POOL_SIZE = 40
URL_HINT = (
    "Use sqlite:///PATH (the default is <home>/manimagent.db) or "
    "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
)
BACKENDS = ("sqlite", "postgresql")


def database_url(url: str) -> URL:
    """The SQLAlchemy URL of MANIMAGENT_DATABASE_URL; `postgresql://` and `postgres://` mean psycopg 3."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "the database URL (MANIMAGENT_DATABASE_URL or database.url) is not a SQLAlchemy URL",
            hint=URL_HINT,
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"manimagent stores its data in SQLite or PostgreSQL, not {parsed.get_backend_name()}",
            hint=URL_HINT,
        )
    return parsed


def _open(url: str) -> Engine:
    parsed = database_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite else {}
    # SQLite: a connection for each of serve's request threads (anyio runs 40), kept open, so a busy
    # server does not open and tune (on_sqlite_connect) a new one for most requests
    pool_args = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE} if is_sqlite else {}
    try:
        # PostgreSQL: a connection the server closed (a restart) is noticed and replaced before use
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=not is_sqlite, **pool_args)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the database {_where(url)} needs the {exc.name} module",
            hint="Use postgresql+psycopg:// with pip install 'manimagent[postgres]'",
        ) from None
    if is_sqlite:
        event.listen(engine, "connect", on_sqlite_connect)
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
UNWRITABLE = (
    "readonly database",
    "read-only",
    "unable to open database file",
    "permission denied",
    "not a directory",
    "file exists",
)
STORE_ERRNOS = {
    errno.ENOSPC,
    errno.EFBIG,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOTDIR,
    errno.EEXIST,
}


def store_fault(exc: BaseException, url: str | None = None) -> ConfigError | None:
    """The ConfigError (exit 3, HTTP 503) for a failure of the store itself (a damaged file, a full
    disk, an unwritable or wrong home), or None when `exc` is something else."""
    message = _fault_text(exc)
    if message is None:
        return None
    where = _where(url)
    lowered = message.lower()
    if url and not url.startswith("sqlite"):
        return _server_fault(message, where)
    if any(word in lowered for word in DAMAGED):
        return ConfigError(
            f"the database {where} is damaged or is not a manimagent database ({message})",
            hint=(
                f"Move it aside (mv {where} {where}.broken) and restore a backup; without one, manimagent "
                f"starts an empty database there"
            ),
        )
    if any(word in lowered for word in FULL):
        return ConfigError(
            f"cannot write the database {where}: the disk is full or failed ({message})",
            hint="Free space on that disk (df -h), then run it again: what was stored before is kept",
        )
    if any(word in lowered for word in UNWRITABLE):
        return ConfigError(
            f"cannot open the database {where} for writing ({message})",
            hint=(
                "Make MANIMAGENT_HOME a writable folder (not a file), or point MANIMAGENT_HOME (or "
                "MANIMAGENT_DATABASE_URL) elsewhere"
            ),
        )
    if "locked" in lowered:
        return ConfigError(
            f"the database {where} stayed locked by another process ({message})",
            hint="Run it again when the other process is done",
        )
    return ConfigError(
        f"the database {where} failed ({message})", hint="Check MANIMAGENT_HOME or MANIMAGENT_DATABASE_URL"
    )


UNREACHABLE = (
    "connection refused",
    "could not connect",
    "connection failed",
    "timeout expired",
    "server closed the connection",
    "terminating connection",
    "the database system is",
    "no such host",
    "name or service not known",
    "connection is closed",
)


def _server_fault(message: str, where: str) -> ConfigError:
    """A failure of a PostgreSQL store: unreachable, no such database, refused credentials, other."""
    lowered = message.lower()
    if "does not exist" in lowered and "database" in lowered:
        return ConfigError(
            f"the database {where} does not exist ({message})",
            hint="Create it (createdb, or CREATE DATABASE), or fix MANIMAGENT_DATABASE_URL",
        )
    if "password authentication failed" in lowered or "authentication" in lowered:
        return ConfigError(
            f"the database {where} refused the login ({message})",
            hint="Check the user and password in MANIMAGENT_DATABASE_URL",
        )
    if any(word in lowered for word in UNREACHABLE):
        return ConfigError(
            f"cannot reach the database {where} ({message})",
            hint="Start PostgreSQL (or wait for it to come back), or fix MANIMAGENT_DATABASE_URL",
        )
    if "could not extend" in lowered or "no space left" in lowered:
        return ConfigError(
            f"the database {where} is out of disk space ({message})",
            hint="Free space on the database server's disk, then run it again",
        )
    return ConfigError(
        f"the database {where} failed ({message})",
        hint="Check the database server's log and MANIMAGENT_DATABASE_URL",
    )


def _fault_text(exc: BaseException) -> str | None:
    """The driver's own words for a database or file-system failure; None for anything else."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return " ".join(str(exc.orig).split())
    if type(exc).__module__.startswith("psycopg"):  # psycopg's own (the job queue talks to it directly)
        return " ".join(str(exc).split())
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
