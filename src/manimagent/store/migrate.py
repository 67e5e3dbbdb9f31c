"""Bringing a database to the newest schema with Alembic, whenever it opens, SQLite or PostgreSQL.

The revisions are the files of store/alembic/versions/. A new migration is one new file there,
`<NNNN>_<what>.py` (copy the newest), whose `revision` is its file name and whose `down_revision`
is the newest file before it; tests check that the files form one line and that the migrated
schema equals the models on both databases.

Each upgrade runs in one transaction that holds the migration lock (`BEGIN IMMEDIATE` on SQLite,
an advisory lock on PostgreSQL), so processes opening a new database at once take turns. A
database whose revision this version does not know is refused (NewerDatabase).

Homes from before Alembic carry the `_migrations` table of store/migrations.py: that frozen list
completes them, they are stamped with the revision its last entry equals (0010_baseline), and
Alembic goes on from there. `_migrations` keeps one more row, `alembic`, in every SQLite database,
so a manimagent from before Alembic refuses it in one line rather than trying to create its tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from manimagent.errors import ConfigError
from manimagent.store.migrations import MIGRATIONS
from manimagent.store.revisions import ALEMBIC_DIR, head_revision, known_revisions
from manimagent.store.revisions import VERSIONS_DIR as VERSIONS_DIR  # where tests find the files
from manimagent.store.sqlite import BUSY_TIMEOUT_MS, on_sqlite_connect

LEGACY_REVISION = "0010_baseline"  # the schema the pre-Alembic list ends with
LEGACY_MARKER = "alembic"  # the `_migrations` row that turns away a manimagent from before Alembic
LEGACY_TABLE = (
    "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT "
    "CURRENT_TIMESTAMP)"
)
POSTGRES_LOCK = 0x6D616E696D  # pg_advisory_xact_lock key of manimagent's migrations


class NewerDatabase(ConfigError):
    """The database was migrated by a newer manimagent: this one would misread it, so it refuses."""


# ---- reading where a database stands -------------------------------------------------------------


def _has_table(conn: Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
    else:
        query = (
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name "
            "= :name"
        )
    return conn.execute(text(query), {"name": name}).first() is not None


def stored_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at; None for an empty database or one from before Alembic."""
    if not _has_table(conn, "alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def legacy_names(conn: Connection) -> set[str]:
    """The pre-Alembic migrations a database records (empty when it has no `_migrations`)."""
    if not _has_table(conn, "_migrations"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT name FROM _migrations"))} - {LEGACY_MARKER}


def check_known(revision: str | None, legacy: set[str], where: str) -> None:
    """NewerDatabase when the database is at a revision (or names an old migration) this version lacks."""
    unknown = sorted(legacy - {name for name, _ in MIGRATIONS})
    if revision is not None and revision not in known_revisions():
        unknown.append(revision)
    if unknown:
        from manimagent import __version__

        raise NewerDatabase(
            f"the database {where} was written by a newer manimagent (schema {unknown[-1]}); "
            f"this manimagent {__version__} knows schemas up to {head_revision()}",
            hint="Upgrade manimagent (pip install -U manimagent), or point MANIMAGENT_HOME at another home",
        )


def is_current(conn: Connection, where: str) -> bool:
    """Whether nothing is left to migrate (the usual open: a read or two, no lock, no Alembic)."""
    revision = stored_revision(conn)
    check_known(revision, legacy_names(conn) if revision is None else set(), where)
    return revision == head_revision()


# ---- upgrading -----------------------------------------------------------------------------------


def upgrade(conn: Connection, where: str) -> list[str]:
    """Migrate the database on `conn` (inside its transaction) to the head; the names applied."""
    applied: list[str] = []
    revision = stored_revision(conn)
    legacy = legacy_names(conn) if revision is None else set()
    check_known(revision, legacy, where)
    if legacy:
        applied += _complete_legacy(conn, legacy)
        _alembic(conn, "stamp", LEGACY_REVISION)
    applied += _alembic(conn, "upgrade", "head")
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(LEGACY_TABLE)
        conn.execute(text("INSERT OR IGNORE INTO _migrations (name) VALUES (:name)"), {"name": LEGACY_MARKER})
    return applied


def _complete_legacy(conn: Connection, done: set[str]) -> list[str]:
    """Run the entries of the frozen pre-Alembic list this home lacks, as that list did."""
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        for statement in filter(str.strip, sql.split(";")):
            conn.exec_driver_sql(statement)
        conn.execute(text("INSERT INTO _migrations (name) VALUES (:name)"), {"name": name})
        applied.append(name)
    return applied


def _alembic(conn: Connection, command_name: str, target: str) -> list[str]:
    """Alembic's `upgrade` or `stamp` on this connection; the revisions it ran (a stamp runs none)."""
    from alembic import command
    from alembic.config import Config

    ran: list[str] = []

    def record(*, step: Any, **_: Any) -> None:
        if not step.is_stamp:
            ran.append(step.up_revision_id)

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes.update(connection=conn, on_version_apply=record)
    getattr(command, command_name)(config, target)
    return ran


# ---- the lock ------------------------------------------------------------------------------------


def upgrade_engine(engine: Engine, where: str) -> list[str]:
    """Migrate the database of `engine` unless it is current; the names applied."""
    if engine.dialect.name == "sqlite":
        return _upgrade_sqlite(engine, where)
    with engine.connect() as conn:
        if is_current(conn, where):
            return []
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK})
        return upgrade(conn, where)


def _upgrade_sqlite(engine: Engine, where: str) -> list[str]:
    with engine.connect() as conn:
        current = is_current(conn, where)
        conn.rollback()
    if current:
        return []
    immediate = _immediate_engine(engine)
    try:
        with immediate.begin() as conn:  # BEGIN IMMEDIATE: one migrating process at a time
            dangling = _broken_references(conn)  # left by hand edits: kept as they are
            applied = upgrade(conn, where)
            broken = _broken_references(conn)
            if broken > dangling:
                raise ConfigError(
                    f"migrating {where} would break {broken - dangling} reference(s)",
                    hint="Nothing was changed; report this",
                )
            return applied
    finally:
        immediate.dispose()


def _broken_references(conn: Connection) -> int:
    return len(conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall())


def _immediate_engine(engine: Engine) -> Engine:
    """A one-connection engine on the same SQLite file whose transactions are `BEGIN IMMEDIATE`,
    with foreign keys checked at the end (so a migration can rebuild a table) rather than per row."""

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        on_sqlite_connect(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: before BEGIN
        dbapi_connection.isolation_level = None  # BEGIN and COMMIT are said here, not by the driver

    immediate = create_engine(
        engine.url, poolclass=NullPool, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
    )
    event.listen(immediate, "connect", on_connect)
    event.listen(immediate, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return immediate
