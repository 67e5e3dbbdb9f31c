"""The tables of DESIGN.md. Names are kept from the REST API; ids of scripts and executions are UUIDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from manimagent.store.transitions import (
    ABANDON_GRACE,
    ExecutionStatus,
    ScriptStatus,
    check_execution_move,
    check_script_move,
)

__all__ = [
    "ABANDON_GRACE",
    "EmailToken",
    "EvalItem",
    "EvalRun",
    "Execution",
    "ExecutionStatus",
    "FixMemory",
    "Container",
    "Provider",
    "RefreshToken",
    "Script",
    "ScriptStatus",
    "User",
    "WaitlistEntry",
    "Worker",
    "new_uuid",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class User(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}  # an id is never given to a second account

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True)
    password_hash: str
    email_verified: bool = False
    is_admin: bool = False
    is_active: bool = True
    date_joined: datetime = Field(default_factory=utcnow)
    last_login: datetime | None = None
    first_name: str = ""
    last_name: str = ""


class EmailToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(index=True, unique=True)
    purpose: str = "verify_email"
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; a family shares `family`, reuse of a rotated one revokes the family."""

    id: int | None = Field(default=None, primary_key=True)
    jti: str = Field(index=True, unique=True)
    family: str = Field(index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None  # jti of the token this one was rotated into


class WaitlistEntry(SQLModel, table=True):
    """Someone who asked for an account (POST /api/auth/waiting-list/); one row per address."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True)
    name: str = ""
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Provider(SQLModel, table=True):
    """A configured LLM endpoint. Never the key: keys live in the keyring or an env var."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    provider_type: str
    model_name: str | None = None
    base_url: str | None = None
    priority: int = 100
    is_active: bool = True
    api_key_env: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Container(SQLModel, table=True):
    """A named Docker render environment."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    image: str
    docker_id: str | None = None
    is_running: bool = False
    memory_limit: str = "2g"
    cpu_limit: float = 2.0
    pids_limit: int = 256
    last_checked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Script(SQLModel, table=True):
    """A prompt and the Manim code it became."""

    __table_args__ = (
        Index("ix_script_owner_created", "owner_id", "created_at", "id"),
    )  # a user's pages, newest first

    id: str = Field(default_factory=new_uuid, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    prompt: str = ""
    content: str = ""
    scene_class: str | None = None
    scenes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = ScriptStatus.PENDING.value
    source: str = "generated"  # generated | imported | refined
    provider: str | None = None
    model: str | None = None
    parent_id: str | None = Field(default=None, foreign_key="script.id", index=True)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    provider_attempts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def set_status(self, status: ScriptStatus, error: str | None = None) -> None:
        """A new status (and error, when given), stamped now; store/transitions.py says which may follow
        which."""
        check_script_move(self.status, status)
        self.status = status.value
        if error is not None:
            self.error = error
        self.updated_at = utcnow()


class Execution(SQLModel, table=True):
    """One render attempt of a script."""

    __table_args__ = (
        Index("ix_execution_owner_created", "owner_id", "created_at", "id"),
    )  # a user's pages, newest first

    id: str = Field(default_factory=new_uuid, primary_key=True)
    script_id: str = Field(foreign_key="script.id", index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    attempt_number: int = 1
    engine: str = "local"
    container: str | None = None
    quality: str = "low"
    format: str = "mp4"
    scenes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = ExecutionStatus.QUEUED.value
    is_successful: bool = False
    log: str = ""
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    output_path: str | None = None
    outputs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    original_script: str = ""
    modified_script: str | None = None
    fixes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    layout: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # render.layout findings
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    # started_at + the time limit + ABANDON_GRACE: a render still "running" after it was abandoned
    # by a process that died (SIGKILL, power loss); see services.executions.settle_abandoned
    deadline: datetime | None = None
    # what contained the render: bwrap, sandbox-exec, rlimits (limits alone), docker
    sandbox: str | None = None
    cached_from: str | None = None  # a cached execution: the one whose render it reuses ("cache": unknown)
    # the job queue (PostgreSQL): the `manimagent worker` that ran it, its procrastinate job, and the
    # job's result document (ExecuteResult) for the server waiting on it
    worker: str | None = None
    job_id: int | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))

    def start(self) -> None:
        """The attempt's render runs: a new row, or the queued row it takes over."""
        check_execution_move(self.status, ExecutionStatus.RUNNING)
        self.status = ExecutionStatus.RUNNING.value

    def finish(self, status: ExecutionStatus, error: str | None = None) -> None:
        """The attempt ended: its status and error, stamped now (store/transitions.py)."""
        check_execution_move(self.status, status)
        self.status = status.value
        self.error = error
        self.completed_at = utcnow()


class Worker(SQLModel, table=True):
    """A `manimagent worker` allowed to send media to the server: its name and hashed token, and
    what it last said about itself (host, queues, heartbeat)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    token_hash: str = Field(index=True, unique=True)
    host: str | None = None
    queues: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    last_heartbeat: datetime | None = None


class FixMemory(SQLModel, table=True):
    """An LLM repair that rendered: the normalised signature of the error it answered and the
    diff that fixed it, offered to the next repair of an error with the same signature."""

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    signature: str = Field(index=True)  # exception type + message, names and numbers abstracted
    error: str = ""  # the error as it was reported
    diff: str = ""  # unified diff: the failing code -> the code that rendered
    uses: int = 0  # how many later repair prompts carried it
    created_at: datetime = Field(default_factory=utcnow)


class EvalRun(SQLModel, table=True):
    """One `manimagent eval` of a suite: its settings and totals (the items are EvalItem rows)."""

    id: str = Field(default_factory=new_uuid, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    suite: str
    provider: str | None = None
    max_attempts: int = 1
    status: str = "running"  # running | finished | interrupted
    items: int = 0
    rendered: int = 0
    success_at_1: float = 0.0
    success_at_k: float = 0.0
    median_attempts: float | None = None
    seconds: float = 0.0
    tokens: int = 0
    cost: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class EvalItem(SQLModel, table=True):
    """One suite item of an EvalRun: how its render went."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="evalrun.id", index=True)
    item_id: str
    kind: str  # prompt | code
    script_id: str | None = None
    rendered: bool = False
    attempts: int = 0
    fixes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    layout: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    first_error: str | None = None
    error: str | None = None
    seconds: float = 0.0
    tokens: int = 0
    cost: float | None = None
