"""Request bodies of the agents endpoints (and of omega-client's routes), and the 202 answer of
`"wait": false`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from manimagent.prompts import MAX_PROMPT_CHARS
from manimagent.render.base import OutputFormat, Quality

STILL_HELP = (
    "Seconds a still scene (no animation) lasts as a video when a video format is given explicitly"
    " (default 1)"
)
WAIT_HELP = "false: answer 202 at once and render in the background; poll GET /api/agents/executions/{id}/"


class RenderIn(BaseModel):
    engine: Literal["local", "docker"] | None = None
    container: str | None = Field(default=None, max_length=200)
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    wait: bool = Field(default=True, description=WAIT_HELP)


class OutputIn(RenderIn):
    """What a render makes: the options of execute, generate and refine."""

    quality: Quality | None = None
    format: OutputFormat | None = None
    still_seconds: float | None = Field(default=None, gt=0, le=60, description=STILL_HELP)
    cache: bool | None = Field(
        default=None, description="false: render every scene again, whatever the render cache holds"
    )
    partial: bool | None = Field(
        default=None,
        description="true: when some scenes fail, still join the ones that rendered (success stays false)",
    )


class ExecuteIn(OutputIn):
    scenes: list[str] | None = Field(
        default=None, max_length=50, description="Scenes to render (default: all, in file order)"
    )


class RetryIn(RenderIn):
    pass


class GenerateIn(OutputIn):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    provider: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    auto_execute: bool = Field(
        default=False, description="Render the script too (engine, quality, ... apply then)"
    )


class RefineIn(OutputIn):
    instruction: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="What to change")
    provider: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    auto_execute: bool = Field(default=False, description="Render the new script too")


class ImportIn(BaseModel):
    code: str = Field(min_length=1, max_length=500_000, description="The Manim script")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="What the script is for"
    )


class QueuedResult(BaseModel):
    """202: the work was accepted and runs in the background."""

    success: bool = True
    script_id: str | None = None
    execution_id: str | None = None
    status: Literal["queued"] = "queued"
    message: str = "Queued. Poll GET /api/agents/executions/{execution_id}/ (or the script) for the outcome."


class OmegaGenerateIn(BaseModel):
    """POST /api/generate-manim/ (omega-client): `provider` is a preference, `execute` renders too."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    provider: str | None = Field(
        default=None,
        max_length=200,
        description="Preferred provider (name or type); unusable here: the normal selection",
    )
    execute: bool = Field(default=False, description="Render the script too (auto_execute)")
