"""The documents the CLI prints with --json and the server returns: one schema per shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class PublicModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ScriptSummary(PublicModel):
    """A script in a list (no code)."""

    id: str
    prompt: str
    scene_class: str | None = None
    scenes: list[str] = Field(default_factory=list)
    status: str
    source: str = "generated"
    provider: str | None = None
    model: str | None = None
    parent: str | None = None
    created_at: datetime
    updated_at: datetime


class ScriptPublic(ScriptSummary):
    """One script with its code and history."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    provider_attempts: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    executions: list[str] = Field(default_factory=list)


class ExecutionPublic(PublicModel):
    id: str
    script: str
    prompt: str | None = None  # the script's prompt, in lists (to recognise a render again)
    attempt_number: int
    status: str
    is_successful: bool
    engine: str
    container: str | None = None
    quality: str
    format: str
    scenes: list[str] = Field(default_factory=list)
    output_path: str | None = None
    outputs: list[str] = Field(default_factory=list)
    output_url: str | None = None
    poster_path: str | None = None  # a PNG of the last second beside the video (render/poster.py)
    poster_url: str | None = None
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    fixes: list[dict[str, Any]] = Field(default_factory=list)
    layout: list[dict[str, Any]] = Field(default_factory=list)  # the layout check's findings
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    sandbox: str | None = None
    cached_from: str | None = None
    worker: str | None = None  # the `manimagent worker` that rendered it (job queue on PostgreSQL)

    @model_validator(mode="after")
    def _find_poster(self) -> ExecutionPublic:
        """The poster follows from the video's path (no column): set when the file is there."""
        if self.poster_path is None and self.is_successful:
            from manimagent.render.poster import poster_for

            self.poster_path = poster_for(self.output_path)
        return self


class ExecutionDetail(ExecutionPublic):
    log: str = ""
    original_script: str = ""
    modified_script: str | None = None


class ExecuteResult(PublicModel):
    """`scripts execute`, `executions retry`, `render` and POST .../execute/."""

    success: bool
    script_id: str
    execution_id: str | None = None
    output_path: str | None = None
    output_url: str | None = None
    poster_path: str | None = None
    poster_url: str | None = None
    preview_path: str | None = None  # with --preview: a small GIF beside the video
    outputs: list[str] = Field(default_factory=list)
    attempts: int = 0
    executions: list[str] = Field(default_factory=list)
    status: str
    error: str | None = None
    # per scene: {"scene", "path", "kind": "video" | "image" | "still-video"}
    scene_outputs: list[dict[str, Any]] = Field(default_factory=list)
    # every deterministic fix tried: {"name", "description", "line", "attempt", "stage"}
    fixes: list[dict[str, Any]] = Field(default_factory=list)
    repair_stopped: str | None = None  # why no LLM repair was tried (no real LLM configured)


class CancelResult(PublicModel):
    """`executions cancel` and POST .../executions/{id}/cancel/: whether a job was stopped, and the
    row's status."""

    success: bool
    execution_id: str
    status: str


class GenerateResult(PublicModel):
    """`generate`: a prompt all the way to a video."""

    success: bool
    script_id: str | None = None
    execution_id: str | None = None
    output_path: str | None = None
    output_url: str | None = None
    poster_path: str | None = None
    poster_url: str | None = None
    preview_path: str | None = None
    outputs: list[str] = Field(default_factory=list)
    attempts: int = 0
    provider: str | None = None
    model: str | None = None
    status: str
    error: str | None = None
    scene_outputs: list[dict[str, Any]] = Field(default_factory=list)
    fixes: list[dict[str, Any]] = Field(default_factory=list)
    repair_stopped: str | None = None


class ScriptGenerateResult(PublicModel):
    """`scripts generate`, `scripts refine` and POST .../generate/."""

    success: bool
    script_id: str | None = None
    message: str
    provider: str | None = None
    model: str | None = None
    status: str
    execution: ExecuteResult | None = None
    error: str | None = None


class ProviderPublic(PublicModel):
    id: int
    name: str
    provider_type: str
    model_name: str | None = None
    base_url: str | None = None
    priority: int
    is_active: bool
    api_key_env: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    key_source: str = "none"


class ProviderTestResult(PublicModel):
    success: bool
    provider: str
    model: str
    latency_ms: float | None = None
    reply: str | None = None
    error: str | None = None


class ContainerPublic(PublicModel):
    id: int
    name: str
    image: str
    docker_id: str | None = None
    is_running: bool
    memory_limit: str
    cpu_limit: float
    pids_limit: int
    last_checked_at: datetime | None = None
    created_at: datetime


class ContainerStatus(PublicModel):
    success: bool
    name: str
    is_running: bool
    docker_id: str | None = None
    status: str | None = None
    message: str | None = None


class ImageBuildResult(PublicModel):
    """`containers build --json`."""

    success: bool
    tag: str
    image_id: str
    base_image: str
    manim_version: str
    duration: float


class TokenPair(PublicModel):
    """An access and a refresh token (login, refresh)."""

    access: str
    refresh: str


class UserPublic(PublicModel):
    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    email_verified: bool
    is_admin: bool = False
    is_active: bool = Field(default=True, exclude=True)
    date_joined: datetime
    last_login: datetime | None = None

    @computed_field(description="The account may sign in and use the API: verified and not disabled")  # type: ignore[prop-decorator]
    @property
    def is_approved(self) -> bool:
        return self.email_verified and self.is_active


class LoginResult(TokenPair):
    """A login's token pair and the account it signs in."""

    user: UserPublic


class WaitlistEntryPublic(PublicModel):
    """Someone on the waiting list (POST /api/auth/waiting-list/)."""

    id: int
    email: str
    name: str = ""
    reason: str = ""
    created_at: datetime


class MessageResult(PublicModel):
    message: str


class SettingPublic(PublicModel):
    name: str
    value: Any = None
    source: str
    help: str = ""
    key: str | None = None  # its dotted key in config.toml
    env: str | None = None  # the environment variable that overrides it


class DoctorCheck(PublicModel):
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True


class DoctorReport(PublicModel):
    ok: bool
    checks: list[DoctorCheck]


class EvalItemResult(PublicModel):
    """One suite item of an eval run."""

    item_id: str
    kind: str  # prompt | code
    script_id: str | None = None
    rendered: bool
    attempts: int
    fixes: list[str] = Field(default_factory=list)
    layout: list[dict[str, Any]] = Field(default_factory=list)
    first_error: str | None = None
    error: str | None = None
    seconds: float
    tokens: int = 0
    cost: float | None = None


class EvalRunPublic(PublicModel):
    """`manimagent eval SUITE --json`: the run's totals and its items."""

    id: str
    suite: str
    provider: str | None = None
    max_attempts: int
    status: str
    items: int
    rendered: int
    success_at_1: float
    success_at_k: float
    median_attempts: float | None = None
    seconds: float
    tokens: int
    cost: float | None = None
    created_at: datetime
    finished_at: datetime | None = None
    results: list[EvalItemResult] = Field(default_factory=list)


class EvalItemChange(PublicModel):
    item_id: str
    a_rendered: bool | None = None  # None: the item is not in that run
    b_rendered: bool | None = None
    a_attempts: int | None = None
    b_attempts: int | None = None


class EvalComparison(PublicModel):
    """`manimagent eval compare A B --json`: both runs' totals and the items whose outcome differs."""

    a: EvalRunPublic
    b: EvalRunPublic
    success_at_1_delta: float
    success_at_k_delta: float
    median_attempts_delta: float | None = None
    fixed: list[str] = Field(default_factory=list)  # failed in A, rendered in B
    broken: list[str] = Field(default_factory=list)  # rendered in A, failed in B
    changes: list[EvalItemChange] = Field(default_factory=list)


def generate_result(written: ScriptGenerateResult, execution: ExecuteResult | None) -> GenerateResult:
    """The `generate` document: the written script plus its (delivered) render."""
    return GenerateResult(
        success=written.success,
        script_id=written.script_id,
        execution_id=execution.execution_id if execution else None,
        output_path=execution.output_path if execution else None,
        output_url=execution.output_url if execution else None,
        poster_path=execution.poster_path if execution else None,
        poster_url=execution.poster_url if execution else None,
        preview_path=execution.preview_path if execution else None,
        outputs=execution.outputs if execution else [],
        attempts=execution.attempts if execution else 0,
        scene_outputs=execution.scene_outputs if execution else [],
        fixes=execution.fixes if execution else [],
        repair_stopped=execution.repair_stopped if execution else None,
        provider=written.provider,
        model=written.model,
        status=written.status,
        error=written.error,
    )


class CacheInfo(PublicModel):
    """`cache info`: where the render cache is, how many scenes it holds and their size in bytes."""

    path: str
    entries: int
    size: int
    max_size: int
    enabled: bool


class CacheCleared(PublicModel):
    removed: int
