"""One render attempt, before any database work: the plan, the prepared code, the started job.

Kept free of the database layer so `render FILE` can start manim before SQLModel is imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from manimagent.context import Context
from manimagent.errors import InvalidScript
from manimagent.events import CheckFinding, Event, FixApplied
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
from manimagent.scriptcheck.scenes import find_scenes
from manimagent.scriptcheck.source import parse_script

if TYPE_CHECKING:
    from manimagent.render.narration import Narration

JOINED_STEM = "all_scenes"  # the file name of a multi-scene render's joined video
BEFORE_RENDER = "before-render"  # a fix's `stage`: applied while the code was prepared
AFTER_FAILURE = "after-failure"  # applied because of the previous attempt's failure


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
    # how a script speaks (services/voiceover.narration_for, bound by services/render.render_options):
    # None for a script that is not narrated; without it nothing is narrated
    narrate: Callable[[str], Narration | None] | None = None


def new_id() -> str:
    """A new row id (a UUID), chosen before its row is written."""
    return str(uuid.uuid4())


@dataclass
class NewScript:
    """A script not stored yet: it is stored, with this id, while its first render runs."""

    code: str
    prompt: str
    source: str = "imported"
    id: str = field(default_factory=new_id)


@dataclass
class Attempt:
    prepared: Prepared
    job: StagedRender | None  # None when the code was refused
    execution_id: str  # the id its Execution row is written with; its files render into that row's folder


def media_folder(ctx: Context, script_id: str, execution_id: str) -> Path:
    """Where an execution's files end: `media/<script>/<execution>`."""
    return ctx.settings.paths.media / script_id / execution_id


def has_latex(engine: RenderEngine) -> bool:
    return bool(getattr(engine, "has_latex", True))


def prepare(ctx: Context, code: str, options: RenderOptions, *, strict: bool) -> Prepared:
    """Check and fix `code` for a render with `options` (scriptcheck/prepare.py)."""
    return prepare_code(
        code, ctx.manim_names(), has_latex=has_latex(options.engine), wanted=options.scenes, strict=strict
    )


def render_request(ctx: Context, prepared: Prepared, options: RenderOptions) -> RenderRequest:
    """What the engine is asked to render for the prepared code (a narrated script's speech included:
    a network engine speaks here, before the job). The render cache keys scenes by it."""
    request = RenderRequest(
        code=prepared.code,
        scenes=prepared.scenes,
        quality=options.quality,
        format=options.format,
        timeout=options.timeout,
        layout=layout_mode(ctx.settings.layout) != LayoutMode.OFF,
    )
    if options.narrate is not None:
        request.narration = options.narrate(prepared.code)
    return request


def begin_attempt(
    ctx: Context, code: str, options: RenderOptions, *, strict: bool, script_id: str, execution_id: str
) -> Attempt:
    """Prepare `code` and start rendering it (unless it is refused) into the media folder of the
    execution `execution_id` of the script `script_id`, rows that are written meanwhile. Light:
    no database work."""
    prepared = prepare(ctx, code, options, strict=strict)
    if prepared.refusal is not None:
        return Attempt(prepared, None, execution_id)
    job = StagedRender(
        options.engine,
        render_request(ctx, prepared, options),
        ctx.settings.paths.staging,
        ctx.events,
        still_seconds=options.still_seconds,
        folder=media_folder(ctx, script_id, execution_id),
    )
    return Attempt(prepared, job, execution_id)


def prepared_events(prepared: Prepared) -> list[Event]:
    """What preparing the code did, as events: each fix applied, then each finding of the check."""
    return [
        *(FixApplied(name=fix.name, description=fix.description, line=fix.line) for fix in prepared.fixes),
        *(
            CheckFinding(
                severity=finding.severity, code=finding.code, message=finding.describe(), line=finding.line
            )
            for finding in prepared.findings
        ),
    ]


def all_scenes(code: str) -> list[str]:
    """Every Scene class of `code` in file order (none when it does not parse): a Script's `scenes`."""
    try:
        return find_scenes(parse_script(code))
    except InvalidScript:
        return []


def scene_outputs(scenes: list[str], outputs: list[Path], stills: list[str]) -> list[dict[str, Any]]:
    """Per scene: its file and its kind: `video`, `image` (a still scene's PNG, as manim makes it)
    or `still-video` (a still scene's last frame shown for --still-seconds, for an explicit video format)."""
    return [
        {"scene": scene, "path": str(path), "kind": output_kind(path, scene in stills)}
        for scene, path in zip(scenes, outputs, strict=False)
    ]


def output_kind(path: Path, still: bool) -> str:
    if path.suffix == ".png":
        return "image"
    return "still-video" if still else "video"
