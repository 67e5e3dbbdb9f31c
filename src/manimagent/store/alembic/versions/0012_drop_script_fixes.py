"""The `script.fixes` column goes: nothing ever wrote it (the fixes of a render are kept on each
execution, `execution.fixes`), and the `fixes` of a script document was always empty.

Revision ID: 0012_drop_script_fixes
Revises: 0011_workers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_drop_script_fixes"
down_revision = "0011_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("script") as batch:
        batch.drop_column("fixes")


def downgrade() -> None:
    with op.batch_alter_table("script") as batch:
        batch.add_column(sa.Column("fixes", sa.JSON(), nullable=False, server_default="[]"))
