"""Render workers (`manimagent workers add`) and, on each execution, the worker and queue job that ran it
and the result document a worker leaves for the server that waits on it.

Revision ID: 0011_workers
Revises: 0010_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_workers"
down_revision = "0010_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_worker_name", "worker", ["name"], unique=True)
    op.create_index("ix_worker_token_hash", "worker", ["token_hash"], unique=True)
    op.add_column("execution", sa.Column("worker", sa.String(), nullable=True))
    op.add_column("execution", sa.Column("job_id", sa.Integer(), nullable=True))
    op.add_column("execution", sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("execution", "result")
    op.drop_column("execution", "job_id")
    op.drop_column("execution", "worker")
    op.drop_table("worker")
