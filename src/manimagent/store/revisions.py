"""The schema revisions this version knows: the file names of store/alembic/versions/, read
without Alembic or SQLAlchemy (store/migrate.py migrates; store/fast_cached.py only checks)."""

from __future__ import annotations

from pathlib import Path

ALEMBIC_DIR = Path(__file__).with_name("alembic")
VERSIONS_DIR = ALEMBIC_DIR / "versions"


def known_revisions() -> tuple[str, ...]:
    """The revision names of this version, oldest first (their file names: no Alembic import)."""
    return tuple(sorted(path.stem for path in VERSIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py")))


def head_revision() -> str:
    return known_revisions()[-1]
