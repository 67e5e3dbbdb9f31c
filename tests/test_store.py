"""The store: migrations equal the models (SQLite and PostgreSQL), WAL, busy timeout, idempotent
opening, and homes from before Alembic upgraded in place."""

from __future__ import annotations

import ast
import sqlite3

import pytest
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from manimagent.settings import load_settings
from manimagent.store import models  # noqa: F401 - registers the tables
from manimagent.store.db import get_engine
from manimagent.store.migrate import VERSIONS_DIR, head_revision, known_revisions
from manimagent.store.migrations import MIGRATIONS


def _schema(engine, defaults: bool = False) -> dict:
    inspector = inspect(engine)
    schema = {}
    for table in inspector.get_table_names():
        if table.startswith("_") or table == "alembic_version":
            continue
        columns = {
            (
                c["name"],
                c["type"].compile(dialect=engine.dialect),
                c["nullable"],
                *([c["default"]] if defaults else []),
            )
            for c in inspector.get_columns(table)
        }
        indexes = {
            (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
        }
        foreign = {
            (tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)
        }
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        schema[table] = (columns, indexes, foreign, primary)
    return schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_empty_databases(request, tmp_path):
    """Two empty databases of one kind: one to migrate, one for the models' create_all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
    cluster = request.getfixturevalue("postgres_cluster")
    return request.getfixturevalue("postgres_url"), cluster.url(cluster.create_database())


def test_migrated_schema_equals_models(two_empty_databases):
    migrated_url, reference_url = two_empty_databases
    migrated = get_engine(migrated_url)
    reference = create_engine(reference_url)
    SQLModel.metadata.create_all(reference)
    try:
        assert _schema(migrated) == _schema(reference)
    finally:
        reference.dispose()


def test_migrations_are_recorded_once_and_reopen_cleanly(tmp_path):
    from manimagent.store.db import apply_migrations, dispose_engines

    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert apply_migrations(create_engine(url)) == list(known_revisions())
    dispose_engines()
    engine = get_engine(url)
    assert apply_migrations(engine) == []
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    # a manimagent from before Alembic reads `_migrations`: the marker makes it refuse this database
    assert conn.execute("SELECT name FROM _migrations").fetchall() == [("alembic",)]


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and len(set(names)) == len(names)


def _revision_file(path) -> dict:
    tree = ast.parse(path.read_text())
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("revision", "down_revision")
    }


def test_the_revision_files_form_one_line_in_name_order():
    """A new migration is one file named after its revision, following the newest one: two
    branches that each added one after the same file are caught here, not at a user's open."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    paths = sorted(VERSIONS_DIR.glob("*.py"))
    assert [path.stem for path in paths] == list(known_revisions())
    previous = None
    for path in paths:
        declared = _revision_file(path)
        assert declared == {"revision": path.stem, "down_revision": previous}, path.name
        assert len(path.stem) <= 32, "alembic_version.version_num is VARCHAR(32)"
        previous = path.stem
    config = Config()
    config.set_main_option("script_location", str(VERSIONS_DIR.parent))
    assert ScriptDirectory.from_config(config).get_heads() == [head_revision()]


def test_a_home_from_before_alembic_has_the_schema_of_a_new_one(tmp_path):
    """Every prefix of the old list, and a history with a gap (a build that had 0010 before 0008
    existed), completed and stamped, equals a database Alembic made."""
    from manimagent.store.db import dispose_engines

    fresh = get_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    histories = [MIGRATIONS[:count] for count in range(1, len(MIGRATIONS) + 1)]
    histories.append([(name, sql) for name, sql in MIGRATIONS if not name.startswith("0008")])
    for count, history in enumerate(histories):
        path = tmp_path / f"old{count}.db"
        old = sqlite3.connect(path)
        old.execute(
            "CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT "
            "CURRENT_TIMESTAMP)"
        )
        for name, sql in history:
            old.executescript(sql)
            old.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        old.commit()
        old.close()
        migrated = get_engine(f"sqlite:///{path}")
        assert _schema(migrated, defaults=True) == _schema(fresh, defaults=True), [
            name for name, _ in history
        ]
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        assert {row[0] for row in conn.execute("SELECT name FROM _migrations")} == {
            name for name, _ in MIGRATIONS
        } | {"alembic"}
    dispose_engines()


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
    old.execute(
        "CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"
    )
    old.execute("INSERT INTO _migrations (name) VALUES ('0001_initial')")
    old.execute(
        "INSERT INTO script (id, prompt, content, scenes, status, source, prompt_tokens, "
        "completion_tokens, total_tokens, fixes,"
        " provider_attempts, created_at, updated_at) VALUES ('s1', 'p', 'code', '[]', 'successful', "
        "'imported', 0, 0, 0, '[]', '[]',"
        " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    old.execute(
        "INSERT INTO execution (id, script_id, attempt_number, engine, quality, format, scenes, "
        "status, is_successful, log, outputs,"
        " original_script, fixes, created_at) VALUES ('e1', 's1', 1, 'local', 'low', 'mp4', '[]', "
        "'succeeded', 1, 'the log', '[]',"
        " 'code', '[]', '2026-01-01 00:00:00')"
    )
    old.commit()
    old.close()
    engine = get_engine(f"sqlite:///{path}")
    assert apply_migrations(engine) == []  # opening applied the rest already
    dispose_engines()
    row = (
        sqlite3.connect(path)
        .execute("SELECT status, log, deadline FROM execution WHERE id = 'e1'")
        .fetchone()
    )
    assert row == ("succeeded", "the log", None)
