"""One render attempt, before any database work: the plan, the prepared code, the started job.

Kept free of the database layer so `render FILE` can start manim before SQLModel is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from manimagent.render.base import OutputFormat, Quality, RenderEngine, RenderFailure, RenderRequest
from manimagent.render.job import RenderJob
from manimagent.render.layout import LayoutMode, layout_mode
from manimagent.scriptcheck.prepare import Prepared, prepare_code
from manimagent.services.context import Context

# (script id, code, the failure it caused) -> new code; raises ProviderError when the LLM cannot help
Repairer = Callable[[str, str, RenderFailure], str]


@dataclass
class RenderOptions:
    engine: RenderEngine
    quality: Quality
    format: OutputFormat
    max_attempts: int
    timeout: float
    scenes: list[str] | None = None


@dataclass
class NewScript:
    """A script not stored yet: it is stored while its first render runs."""

    code: str
    prompt: str
    source: str = "imported"


@dataclass
class Attempt:
    prepared: Prepared
    job: RenderJob | None  # None when the code was refused


def has_latex(engine: RenderEngine) -> bool:
    return bool(getattr(engine, "has_latex", True))


def begin_attempt(ctx: Context, code: str, options: RenderOptions, *, strict: bool) -> Attempt:
    """Prepare `code` and start rendering it (unless it is refused). Light: no database work."""
    prepared = prepare_code(code, ctx.manim_names(), has_latex=has_latex(options.engine), wanted=options.scenes, strict=strict)
    request = RenderRequest(
        code=prepared.code, scenes=prepared.scenes, quality=options.quality, format=options.format, timeout=options.timeout,
        layout=layout_mode(ctx.settings.layout) != LayoutMode.OFF,
    )
    job = RenderJob(options.engine, request, ctx.settings.paths.staging, ctx.events) if prepared.refusal is None else None
    return Attempt(prepared, job)
