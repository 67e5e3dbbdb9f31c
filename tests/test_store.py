"""The store: migrations equal the models, WAL, busy timeout, idempotent opening."""

from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from manimagent.settings import load_settings
from manimagent.store import models  # noqa: F401 - registers the tables
from manimagent.store.db import get_engine
from manimagent.store.migrations import MIGRATIONS


def _schema(engine) -> dict:
    inspector = inspect(engine)
    schema = {}
    for table in inspector.get_table_names():
        if table.startswith("_"):
            continue
        columns = {(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
        indexes = {(i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)}
        foreign = {(tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)}
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        schema[table] = (columns, indexes, foreign, primary)
    return schema


def test_migrated_schema_equals_models(tmp_path):
    migrated = get_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    reference = create_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    SQLModel.metadata.create_all(reference)
    assert _schema(migrated) == _schema(reference)


def test_migrations_are_recorded_once_and_reopen_cleanly(tmp_path):
    from manimagent.store.db import apply_migrations, dispose_engines

    url = f"sqlite:///{tmp_path / 'm.db'}"
    get_engine(url)
    dispose_engines()
    engine = get_engine(url)
    assert apply_migrations(engine) == []
    names = [row[0] for row in sqlite3.connect(tmp_path / "m.db").execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_sqlite_uses_wal_and_a_busy_timeout():
    engine = get_engine(load_settings().database_url_effective)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_database_url_env_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("MANIMAGENT_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    get_engine(load_settings().database_url_effective)
    assert (tmp_path / "elsewhere.db").exists()


def test_a_database_from_the_first_release_keeps_its_rows_when_migrated(tmp_path):
    """An 0001 database with an execution gains the newer columns and loses nothing."""
    from manimagent.store.db import apply_migrations, dispose_engines

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0][1])
    old.execute("CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)")
    old.execute("INSERT INTO _migrations (name) VALUES ('0001_initial')")
    old.execute(
        "INSERT INTO script (id, prompt, content, scenes, status, source, prompt_tokens, completion_tokens, total_tokens, fixes,"
        " provider_attempts, created_at, updated_at) VALUES ('s1', 'p', 'code', '[]', 'successful', 'imported', 0, 0, 0, '[]', '[]',"
        " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    old.execute(
        "INSERT INTO execution (id, script_id, attempt_number, engine, quality, format, scenes, status, is_successful, log, outputs,"
        " original_script, fixes, created_at) VALUES ('e1', 's1', 1, 'local', 'low', 'mp4', '[]', 'succeeded', 1, 'the log', '[]',"
        " 'code', '[]', '2026-01-01 00:00:00')"
    )
    old.commit()
    old.close()
    engine = get_engine(f"sqlite:///{path}")
    assert apply_migrations(engine) == []  # opening applied the rest already
    dispose_engines()
    row = sqlite3.connect(path).execute("SELECT status, log, deadline FROM execution WHERE id = 'e1'").fetchone()
    assert row == ("succeeded", "the log", None)
