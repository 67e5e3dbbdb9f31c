"""The schema as the migrations before Alembic left it (0001_initial .. 0010_execution_cached_from).

A new database starts here; a home migrated by the old list (store/migrations.py) is completed by
that list and stamped with this revision (store/migrate.py), so both arrive at the same tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("image", sa.String(), nullable=False),
        sa.Column("docker_id", sa.String(), nullable=True),
        sa.Column("is_running", sa.Boolean(), nullable=False),
        sa.Column("memory_limit", sa.String(), nullable=False),
        sa.Column("cpu_limit", sa.Float(), nullable=False),
        sa.Column("pids_limit", sa.Integer(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_container_name", "container", ["name"], unique=True)

    op.create_table(
        "provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("provider_type", sa.String(), nullable=False),
        sa.Column("model_name", sa.String(), nullable=True),
        sa.Column("base_url", sa.String(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("api_key_env", sa.String(), nullable=True),
        sa.Column("deployment", sa.String(), nullable=True),
        sa.Column("api_version", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_provider_name", "provider", ["name"], unique=True)

    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("date_joined", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_name", sa.String(), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,  # an id is never given to a second account
    )
    op.create_index("ix_user_email", "user", ["email"], unique=True)

    op.create_table(
        "waitlistentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_waitlistentry_email", "waitlistentry", ["email"], unique=True)

    op.create_table(
        "emailtoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_emailtoken_token_hash", "emailtoken", ["token_hash"], unique=True)
    op.create_index("ix_emailtoken_user_id", "emailtoken", ["user_id"], unique=False)

    op.create_table(
        "evalrun",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("suite", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("rendered", sa.Integer(), nullable=False),
        sa.Column("success_at_1", sa.Float(), nullable=False),
        sa.Column("success_at_k", sa.Float(), nullable=False),
        sa.Column("median_attempts", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evalrun_owner_id", "evalrun", ["owner_id"], unique=False)

    op.create_table(
        "fixmemory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("diff", sa.String(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fixmemory_owner_id", "fixmemory", ["owner_id"], unique=False)
    op.create_index("ix_fixmemory_signature", "fixmemory", ["signature"], unique=False)

    op.create_table(
        "refreshtoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("family", sa.String(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_refreshtoken_family", "refreshtoken", ["family"], unique=False)
    op.create_index("ix_refreshtoken_jti", "refreshtoken", ["jti"], unique=True)
    op.create_index("ix_refreshtoken_user_id", "refreshtoken", ["user_id"], unique=False)

    op.create_table(
        "script",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.String(), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("scene_class", sa.String(), nullable=True),
        sa.Column("scenes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("parent_id", sa.String(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("fixes", sa.JSON(), nullable=False),
        sa.Column("provider_attempts", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["script.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_script_owner_created", "script", ["owner_id", "created_at", "id"], unique=False)
    op.create_index("ix_script_owner_id", "script", ["owner_id"], unique=False)
    op.create_index("ix_script_parent_id", "script", ["parent_id"], unique=False)

    op.create_table(
        "evalitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("script_id", sa.String(), nullable=True),
        sa.Column("rendered", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("fixes", sa.JSON(), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("first_error", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["evalrun.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evalitem_run_id", "evalitem", ["run_id"], unique=False)

    op.create_table(
        "execution",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("script_id", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("container", sa.String(), nullable=True),
        sa.Column("quality", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("scenes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("is_successful", sa.Boolean(), nullable=False),
        sa.Column("log", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("error_type", sa.String(), nullable=True),
        sa.Column("error_line", sa.Integer(), nullable=True),
        sa.Column("output_path", sa.String(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("original_script", sa.String(), nullable=False),
        sa.Column("modified_script", sa.String(), nullable=True),
        sa.Column("fixes", sa.JSON(), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sandbox", sa.String(), nullable=True),
        sa.Column("cached_from", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["script_id"], ["script.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_execution_owner_created", "execution", ["owner_id", "created_at", "id"], unique=False)
    op.create_index("ix_execution_owner_id", "execution", ["owner_id"], unique=False)
    op.create_index("ix_execution_script_id", "execution", ["script_id"], unique=False)


def downgrade() -> None:
    op.drop_table("execution")
    op.drop_table("evalitem")
    op.drop_table("script")
    op.drop_table("refreshtoken")
    op.drop_table("fixmemory")
    op.drop_table("evalrun")
    op.drop_table("emailtoken")
    op.drop_table("waitlistentry")
    op.drop_table("user")
    op.drop_table("provider")
    op.drop_table("container")
