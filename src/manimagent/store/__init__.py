"""The SQLite store: SQLModel tables, append-only migrations, sessions."""
