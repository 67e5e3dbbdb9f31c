"""The store: SQLModel tables in SQLite (the default) or PostgreSQL, Alembic migrations, sessions."""
