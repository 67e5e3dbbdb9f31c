"""Rendering stored scripts and files: `render FILE`, `scripts execute`, with the pipeline's repair loop.

`render_file` starts manim before the database layer is even imported: the bookkeeping of the
first attempt then runs on the other core while manim starts up. A file every scene of which is in
the render cache starts no render and imports no database layer (services/cache_hits.py).
"""

from __future__ import annotations

import shutil
from enum import Enum
from functools import partial as partial_function
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from manimagent.context import Context
from manimagent.errors import BadInput
from manimagent.render.base import OutputFormat, Quality, RenderEngine
from manimagent.scriptcheck.source import read_script_file
from manimagent.services.engines import select_engine

if TYPE_CHECKING:
    from manimagent.attempt import RenderOptions, Repairer
    from manimagent.schemas import ExecuteResult, GenerateResult

Doc = TypeVar("Doc", "ExecuteResult", "GenerateResult")
Choice = TypeVar("Choice", bound=Enum)
MAX_ATTEMPTS_LIMIT = 10
MAX_STILL_SECONDS = 60.0


def render_options(
    ctx: Context,
    *,
    engine: str | None = None,
    container: str | None = None,
    quality: str | None = None,
    format: str | None = None,
    max_attempts: int | None = None,
    scenes: list[str] | None = None,
    still_seconds: float | None = None,
    default_attempts: int = 1,
    cache: bool | None = None,
    partial: bool = False,
) -> RenderOptions:
    """Validated options, each falling back to the settings. With no format given (nor configured),
    the format is AUTO: manim's own choice, a video, or a PNG for a scene with no animation."""
    from manimagent.attempt import RenderOptions
    from manimagent.services.voiceover import narration_for

    attempts = default_attempts if max_attempts is None else max_attempts
    if not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
        raise BadInput(f"--max-attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {attempts}")
    timeout = ctx.settings.render_timeout
    if timeout <= 0:
        raise BadInput(f"the render timeout must be positive, got {timeout:g}")
    seconds = _still_seconds(still_seconds)
    return RenderOptions(
        engine=_cached(ctx, select_engine(ctx, engine, container), cache, seconds),
        quality=_choice(Quality, quality or ctx.settings.quality, "quality"),
        format=_choice(OutputFormat, format or _configured_format(ctx), "format"),
        max_attempts=attempts,
        timeout=timeout,
        scenes=list(scenes) if scenes else None,
        still_seconds=seconds,
        partial=bool(partial),
        narrate=partial_function(narration_for, ctx),
    )


def _cached(ctx: Context, engine: RenderEngine, cache: bool | None, still_seconds: float) -> RenderEngine:
    """The engine behind the render cache; with --no-cache or `cache.enabled = false` behind none,
    which still renders a multi-scene file scene group by scene group (partial success)."""
    from manimagent.render.cache import CachingEngine, RenderCache

    if not (ctx.settings.cache_enabled if cache is None else cache):
        return CachingEngine(engine, None, still_seconds)
    from manimagent.render.sandbox import parse_size

    return CachingEngine(
        engine,
        RenderCache(
            ctx.settings.paths.render_cache, parse_size(ctx.settings.cache_max_size, "cache.max_size")
        ),
        still_seconds,
    )


def _configured_format(ctx: Context) -> str:
    """render.format when the user set it (config or env), else AUTO (manim's default)."""
    return (
        ctx.settings.format
        if ctx.settings.sources.get("format", "default") != "default"
        else OutputFormat.AUTO.value
    )


def _still_seconds(value: float | None) -> float:
    from manimagent.render.base import DEFAULT_STILL_SECONDS

    seconds = DEFAULT_STILL_SECONDS if value is None else float(value)
    if not 0 < seconds <= MAX_STILL_SECONDS:
        raise BadInput(
            f"--still-seconds must be more than 0 and at most {MAX_STILL_SECONDS:g}, got {seconds:g}"
        )
    return seconds


def _choice(kind: type[Choice], value: str, label: str) -> Choice:
    try:
        return kind(str(value).lower())
    except ValueError:
        raise BadInput(
            f"unknown {label} {value!r}", hint=f"Use one of: {', '.join(item.value for item in kind)}"
        ) from None


def render_file(ctx: Context, *, path: str, output: str | None = None, **options: Any) -> ExecuteResult:
    """Import FILE as a script and render it (repairing only when max_attempts > 1)."""
    code = read_script_file(path)
    plan = render_options(ctx, **options)
    cached = _from_cache(ctx, path, code, plan)
    if cached is not None:
        return deliver(cached, output)
    from manimagent.attempt import NewScript, begin_attempt, new_id
    from manimagent.services.cache_hits import file_prompt

    script = NewScript(code=code, prompt=file_prompt(path), source="imported")
    first = begin_attempt(
        ctx, code, plan, strict=True, script_id=script.id, execution_id=new_id()
    )  # manim starts here
    try:
        from manimagent.pipeline import run_attempts  # SQLModel: Ctrl-C may land here
    except BaseException:
        if first.job:
            first.job.cancel()
        raise

    return deliver(run_attempts(ctx, script, plan, _repairer(ctx, plan), first=first), output)


def _from_cache(ctx: Context, path: str, code: str, plan: RenderOptions) -> ExecuteResult | None:
    """The result of a render every scene of which is in the render cache, stored without the render
    loop (services/cache_hits.py); None when it is not such a render or cannot be stored that way."""
    from manimagent.services import cache_hits

    found = cache_hits.find_cached(ctx, path=path, code=code, plan=plan)
    if found is None:
        return None
    try:
        (document,) = cache_hits.store_cached(ctx, [found])
    except cache_hits.FastPathUnavailable:
        return None
    for event in cache_hits.cached_events(found, document):
        ctx.events(event)
    from manimagent.schemas import ExecuteResult

    return ExecuteResult(**document)


def execute_script(
    ctx: Context, *, ref: str, output: str | None = None, queued: str | None = None, **options: Any
) -> ExecuteResult:
    """Render a stored script, with repairs up to max_attempts (default: the settings' max_attempts).

    `queued`: the id of a queued Execution row (see `executions.queue_execution`) for the first attempt.
    """
    from manimagent.errors import ManimagentError
    from manimagent.pipeline import run_attempts
    from manimagent.services.ids import resolve_uuid
    from manimagent.store.models import Script

    try:
        with ctx.session() as session:
            script = resolve_uuid(session, ctx, Script, ref, "script")
        options.setdefault("default_attempts", ctx.settings.max_attempts)
        plan = render_options(ctx, **options)
        result = run_attempts(ctx, script, plan, _repairer(ctx, plan), queued=queued)
    except ManimagentError as exc:
        if queued:  # a render that never started leaves no queued row behind
            _fail_queued(ctx, queued, exc.one_line())
        raise
    return deliver(result, output)


def _fail_queued(ctx: Context, execution_id: str, error: str) -> None:
    from manimagent.store import attempts
    from manimagent.store.models import Execution

    with ctx.session() as session:
        row = session.get(Execution, execution_id)
        attempts.fail_queued(session, [row] if row is not None else [], error)


def _repairer(ctx: Context, plan: RenderOptions) -> Repairer | None:
    if plan.max_attempts <= 1:
        return None
    from manimagent.services.repair import repairer_for

    return repairer_for(ctx, plan)


def deliver(result: ExecuteResult, output: str | None) -> ExecuteResult:
    """Copy the final video to `output` when asked; the stored copy stays in media."""
    if not output or not result.output_path:  # a failure has one only with --partial
        return result
    target = Path(output).expanduser()
    if target.is_dir() or output.endswith(("/", "\\")):
        target = target / Path(result.output_path).name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.output_path, target)
    except OSError as exc:
        raise BadInput(
            f"cannot write {output}: {exc.strerror}", hint="The video is kept in the media folder"
        ) from exc
    return result.model_copy(update={"output_path": str(target.resolve())})


def add_preview(result: Doc) -> Doc:
    """`result` with `preview_path`: a small GIF beside its video (see render/poster.py). An image
    (a still scene) has none; a failed render is returned as it is."""
    from manimagent.render.poster import IMAGE_SUFFIXES, make_preview

    if (
        not result.success
        or not result.output_path
        or Path(result.output_path).suffix.lower() in IMAGE_SUFFIXES
    ):
        return result
    return result.model_copy(update={"preview_path": str(make_preview(Path(result.output_path)))})
