"""Alembic's entry point for manimagent's schema.

manimagent runs it itself whenever a database opens (store/migrate.py hands it the connection, inside
the transaction that holds the migration lock). A developer can also run the `alembic` command with
`-c src/manimagent/store/alembic.ini`: the database is then MANIMAGENT_DATABASE_URL (or the home's
SQLite file).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

from manimagent.store import models  # noqa: F401 - registers the tables

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite rebuilds the table
        on_version_apply=config.attributes.get("on_version_apply", ()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_the_command_line() -> None:
    from manimagent.settings import load_settings

    engine = create_engine(load_settings().database_url_effective)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("manimagent's migrations run against a database: offline (--sql) mode is not supported")
if config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    _run_from_the_command_line()
