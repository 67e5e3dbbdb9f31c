"""One render attempt, before any database work: the plan, the prepared code, the started job.

Kept free of the database layer so `render FILE` can start manim before SQLModel is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from manimagent.context import Context
from manimagent.render.base import (
    DEFAULT_STILL_SECONDS,
    OutputFormat,
    Quality,
    RenderEngine,
    RenderFailure,
    RenderRequest,
)
from manimagent.render.layout import LayoutMode, layout_mode
from manimagent.render.staged import StagedRender
from manimagent.scriptcheck.prepare import Prepared, prepare_code


class Repairer(Protocol):
    """The LLM repair step of the render loop."""

    def unavailable(self, script_id: str) -> str | None:
        """Why no repair can be asked for (no real LLM: the offline provider never repairs), or None."""

    def __call__(self, script_id: str, code: str, failure: RenderFailure) -> str:
        """The repaired code; raises ProviderError when the LLM cannot help."""

    def succeeded(self, script_id: str, failure: RenderFailure, before: str, after: str) -> None:
        """The repaired code rendered: remember what fixed `failure` (fix memory)."""


@dataclass
class RenderOptions:
    engine: RenderEngine
    quality: Quality
    format: OutputFormat
    max_attempts: int
    timeout: float
    scenes: list[str] | None = None
    still_seconds: float = DEFAULT_STILL_SECONDS  # a still scene's video length, for an explicit video format
    partial: bool = False  # a failed multi-scene render still joins the scenes that rendered


@dataclass
class NewScript:
    """A script not stored yet: it is stored while its first render runs."""

    code: str
    prompt: str
    source: str = "imported"


@dataclass
class Attempt:
    prepared: Prepared
    job: StagedRender | None  # None when the code was refused


def has_latex(engine: RenderEngine) -> bool:
    return bool(getattr(engine, "has_latex", True))


def begin_attempt(ctx: Context, code: str, options: RenderOptions, *, strict: bool) -> Attempt:
    """Prepare `code` and start rendering it (unless it is refused). Light: no database work."""
    prepared = prepare_code(
        code, ctx.manim_names(), has_latex=has_latex(options.engine), wanted=options.scenes, strict=strict
    )
    request = RenderRequest(
        code=prepared.code,
        scenes=prepared.scenes,
        quality=options.quality,
        format=options.format,
        timeout=options.timeout,
        layout=layout_mode(ctx.settings.layout) != LayoutMode.OFF,
    )
    if prepared.refusal is not None:
        return Attempt(prepared, None)
    from manimagent.services.voiceover import narration_for

    request.narration = narration_for(ctx, prepared.code)  # a network engine speaks here, before the job
    job = StagedRender(
        options.engine, request, ctx.settings.paths.staging, ctx.events, still_seconds=options.still_seconds
    )
    return Attempt(prepared, job)
