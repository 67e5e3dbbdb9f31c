"""The pipeline: check -> fix -> render -> repair, one Execution row per attempt, emitting events.

`run_attempts` is the loop every render goes through (render FILE, scripts execute, generate,
retry). Repairs are deterministic first (scriptcheck.fixes), then the LLM through `repairer`.
Each attempt's render is started before its rows are written, so bookkeeping overlaps rendering.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from sqlmodel import func, select

from manimagent.attempt import Attempt, NewScript, RenderOptions, Repairer, begin_attempt, has_latex
from manimagent.context import Context
from manimagent.errors import Interrupted, InvalidScript, ManimagentError, NotFound, ProviderError
from manimagent.events import (
    CheckFinding,
    Done,
    FixApplied,
    Notice,
    RenderFailed,
    RenderStarted,
    RepairStarted,
)
from manimagent.render.base import RenderFailure, RenderResult
from manimagent.render.layout import LAYOUT_ERROR, LayoutMode, layout_mode, layout_summary
from manimagent.render.logparse import line_in_script
from manimagent.render.poster import make_poster
from manimagent.render.poster import warm_up as warm_up_poster
from manimagent.schemas import ExecuteResult
from manimagent.scriptcheck.fixes import AppliedFix, fix_after_failure
from manimagent.scriptcheck.prepare import Prepared
from manimagent.scriptcheck.scenes import find_scenes
from manimagent.scriptcheck.source import parse_script
from manimagent.store.models import (
    ABANDON_GRACE,
    Execution,
    ExecutionStatus,
    Script,
    ScriptStatus,
    new_uuid,
    utcnow,
)

BEFORE_RENDER = "before-render"  # a fix's `stage`: applied while the code was prepared
AFTER_FAILURE = "after-failure"  # applied because of the previous attempt's failure
INTERRUPTED = "interrupted"  # the error of an interrupted attempt and its script


def run_attempts(
    ctx: Context,
    script: str | NewScript,
    options: RenderOptions,
    repairer: Repairer | None = None,
    first: Attempt | None = None,
    queued: str | None = None,
) -> ExecuteResult:
    """Render the script, repairing and retrying until success or `max_attempts` renders.

    `first`: an attempt already started; `queued`: a queued Execution row the first attempt takes over.
    """
    code = script.code if isinstance(script, NewScript) else _load(ctx, script).content
    script_id = script if isinstance(script, str) else None
    loop = _Loop()
    failure: RenderFailure | None = None
    attempt = first
    for number in range(1, options.max_attempts + 1):
        attempt = attempt or begin_attempt(ctx, code, options, strict=number == 1)
        # the rows' ids are chosen before they are written: an interrupt landing anywhere from here
        # on (a batch's lands at any bytecode) settles whichever of them were written
        new_script = script_id is None
        script_id = script_id or new_uuid()
        execution_id = (queued if number == 1 else None) or new_uuid()
        try:
            try:
                _report(ctx, attempt.prepared)
                if new_script:
                    execution = _store_new(ctx, script, options, attempt.prepared, script_id, execution_id)
                else:
                    execution = _start_execution(
                        ctx,
                        script_id,
                        options,
                        code,
                        attempt.prepared,
                        execution_id,
                        queued if number == 1 else None,
                        loop.pending,
                    )
                loop.started(execution.id, number, attempt.prepared.fixes)
                started = RenderStarted(
                    attempt=number,
                    max_attempts=options.max_attempts,
                    engine=options.engine.name,
                    scenes=attempt.prepared.scenes,
                    execution_id=execution.id,
                )
            except BaseException:
                if attempt.job:
                    attempt.job.cancel()
                raise
            result = _wait(ctx, execution, attempt, started)
            if result.ok:
                _remember_repair(repairer, script_id, loop, code)
                return _succeed(ctx, script_id, execution, attempt.prepared, result, options, loop)
            failure = result.failure or RenderFailure("RenderError", "the render failed")
            failure.line = line_in_script(failure.line, attempt.prepared.code)
            loop.kept, loop.joined = _fail_execution(ctx, execution, result, failure, partial=options.partial)
            loop.scene_status = result.scene_status
            ctx.events(RenderFailed(attempt=number, error=failure.summary()))
            refused_first = number == 1 and attempt.prepared.refusal is not None
            rendered, attempt = attempt.prepared.code, None
            if number == options.max_attempts:
                break
            code = _repair(ctx, script_id, rendered, failure, options, number, repairer, loop)
            if code is None:
                break
            _record_modified(ctx, execution.id, code)
        except KeyboardInterrupt as exc:
            if attempt and attempt.job:
                attempt.job.cancel()
            if isinstance(exc, Interrupted):  # the render's wait settled its rows already
                raise
            raise Interrupted(settle_interrupted(ctx, script_id, execution_id)) from exc
    return _give_up(ctx, script_id, failure, loop, first_refused=len(loop.executions) == 1 and refused_first)


@dataclass
class _Loop:
    """What the attempts of one run have done so far, for the next attempt and the result."""

    executions: list[str] = field(default_factory=list)
    fixes: list[dict] = field(default_factory=list)  # every deterministic fix tried, with its attempt
    pending: list[AppliedFix] = field(
        default_factory=list
    )  # fixes after a failure, for the next attempt's row
    repaired_by_llm: tuple[RenderFailure, str] | None = (
        None  # the failure and code the last LLM repair answered
    )
    repair_stopped: str | None = None
    kept: list[Path] = field(default_factory=list)  # the last failed attempt's scenes that rendered
    joined: Path | None = None  # with --partial: those scenes as one video
    scene_status: dict[str, str] = field(default_factory=dict)

    def started(self, execution_id: str, number: int, fixes: list[AppliedFix]) -> None:
        self.executions.append(execution_id)
        for fix, stage in [
            *((fix, AFTER_FAILURE) for fix in self.pending),
            *((fix, BEFORE_RENDER) for fix in fixes),
        ]:
            self.fixes.append({**fix.to_dict(), "attempt": number, "stage": stage})
        self.pending = []


def _remember_repair(repairer: Repairer | None, script_id: str, loop: _Loop, rendered: str) -> None:
    """The code an LLM repair wrote rendered: the repairer keeps the fix (fix memory)."""
    if loop.repaired_by_llm is not None and repairer is not None:
        failure, before = loop.repaired_by_llm
        repairer.succeeded(script_id, failure, before, rendered)


def _get(session, model: type[Script] | type[Execution], row_id: str):
    """The row, or NotFound when it was deleted meanwhile (e.g. `scripts rm` during a render)."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} was deleted while it rendered")
    return row


def _load(ctx: Context, script_id: str) -> Script:
    with ctx.session() as session:
        return _get(session, Script, script_id)


def _store_new(
    ctx: Context,
    script: NewScript,
    options: RenderOptions,
    prepared: Prepared,
    script_id: str,
    execution_id: str,
) -> Execution:
    """A new Script and its first Execution, written in one transaction: a crash or a full disk
    never leaves a script `executing` without its render."""
    row = Script(
        id=script_id,
        owner_id=ctx.user_id,
        prompt=script.prompt,
        content=script.code,
        scenes=_all_scenes(script.code),
        scene_class=prepared.scenes[0] if prepared.scenes else None,
        source=script.source,
        status=ScriptStatus.EXECUTING.value,
    )
    execution = Execution(
        id=execution_id, **_execution_fields(ctx, row.id, options, script.code, prepared, attempt_number=1)
    )
    with ctx.session() as session:
        session.add(row)
        session.flush()  # the script first (no relationship tells the session so), in the same transaction
        session.add(execution)
        session.commit()
    return execution


def _all_scenes(code: str) -> list[str]:
    try:
        return find_scenes(parse_script(code))
    except InvalidScript:
        return []


def _report(ctx: Context, prepared: Prepared) -> None:
    for fix in prepared.fixes:
        ctx.events(FixApplied(name=fix.name, description=fix.description, line=fix.line))
    for finding in prepared.findings:
        ctx.events(
            CheckFinding(
                severity=finding.severity, code=finding.code, message=finding.describe(), line=finding.line
            )
        )


def _start_execution(
    ctx: Context,
    script_id: str,
    options: RenderOptions,
    code: str,
    prepared: Prepared,
    execution_id: str,
    queued: str | None = None,
    after_failure: list[AppliedFix] | None = None,
) -> Execution:
    """The attempt's Execution row (`queued`: the queued row it takes over, whose id is `execution_id`)."""
    fields = _execution_fields(
        ctx, script_id, options, code, prepared, _next_attempt_number(ctx, script_id, queued), after_failure
    )
    with ctx.session() as session:
        execution = _get(session, Execution, queued) if queued else Execution(id=execution_id, **fields)
        for name, value in fields.items():
            setattr(execution, name, value)
        session.add(execution)
        script = _get(session, Script, script_id)
        script.status = ScriptStatus.EXECUTING.value
        script.updated_at = utcnow()
        session.add(script)
        session.commit()
    return execution


def _execution_fields(
    ctx: Context,
    script_id: str,
    options: RenderOptions,
    code: str,
    prepared: Prepared,
    attempt_number: int,
    after_failure: list[AppliedFix] | None = None,
) -> dict:
    """The columns of a running attempt's Execution row."""
    started = utcnow()
    return dict(
        script_id=script_id,
        owner_id=ctx.user_id,
        attempt_number=attempt_number,
        engine=options.engine.name,
        container=getattr(options.engine, "container_name", None),
        quality=options.quality.value,
        format=options.format.value,
        scenes=prepared.scenes,
        status=ExecutionStatus.RUNNING.value,
        original_script=code,
        modified_script=prepared.code if prepared.code != code else None,
        fixes=[
            *({**fix.to_dict(), "stage": AFTER_FAILURE} for fix in after_failure or []),
            *(fix.to_dict() for fix in prepared.fixes),
        ],
        started_at=started,
        deadline=started + timedelta(seconds=options.timeout + ABANDON_GRACE),
    )


def _next_attempt_number(ctx: Context, script_id: str, queued: str | None = None) -> int:
    query = select(func.count()).select_from(Execution).where(Execution.script_id == script_id)
    if queued:
        query = query.where(Execution.id != queued)
    with ctx.session() as session:
        return int(session.exec(query).one()) + 1


def _wait(ctx: Context, execution: Execution, attempt: Attempt, started: RenderStarted) -> RenderResult:
    """Announce the stored attempt and wait for its render; from here on, Ctrl-C marks it interrupted."""
    try:
        refusal = attempt.prepared.refusal
        if refusal is not None:  # nothing renders, so no "Rendering ..." first
            return RenderResult(
                ok=False, failure=refusal, log=f"refused before rendering: {refusal.summary()}"
            )
        ctx.events(started)
        warm_up_poster()
        result = attempt.job.wait()
    except KeyboardInterrupt as exc:
        if attempt.job:
            attempt.job.cancel()
        raise Interrupted(settle_interrupted(ctx, execution.script_id, execution.id)) from exc
    except ManimagentError as exc:
        _fail_execution(
            ctx, execution, RenderResult(ok=False), RenderFailure(type(exc).__name__, exc.message)
        )
        _set_script(ctx, execution.script_id, ScriptStatus.FAILED, error=exc.message)
        raise
    result = _judge_layout(ctx, result)
    if not result.ok:
        if result.partial:  # the scenes that rendered are kept with the failed attempt
            kept = attempt.job.keep_as(
                ctx.settings.paths.staging / execution.id, replace(result, outputs=result.partial)
            )
            return replace(result, partial=kept.outputs, outputs=[])
        attempt.job.discard()
        return result
    return attempt.job.keep_as(ctx.settings.paths.staging / execution.id, result)


def _judge_layout(ctx: Context, result: RenderResult) -> RenderResult:
    """Show the layout check's findings; with `render.layout = repair` they fail the attempt."""
    for finding in result.layout:
        ctx.events(
            CheckFinding(
                severity="warning", code=f"layout_{finding.kind}", message=f"layout: {finding.describe()}"
            )
        )
    if not (result.ok and result.layout and layout_mode(ctx.settings.layout) == LayoutMode.REPAIR):
        return result
    return replace(result, ok=False, failure=RenderFailure(LAYOUT_ERROR, layout_summary(result.layout)))


def settle_interrupted(ctx: Context, script_id: str | None, execution_id: str | None) -> str | None:
    """An interrupted attempt's rows, whichever were written: its Execution still `running` becomes
    `interrupted` and its Script `failed`. Returns the Execution's id when that row exists."""
    with ctx.session() as session:
        row = session.get(Execution, execution_id) if execution_id else None
        if row is not None and row.status in (ExecutionStatus.RUNNING.value, ExecutionStatus.QUEUED.value):
            row.finish(ExecutionStatus.INTERRUPTED, INTERRUPTED)
            session.add(row)
        script = session.get(Script, script_id) if script_id else None
        if script is not None and script.status == ScriptStatus.EXECUTING.value:
            script.set_status(ScriptStatus.FAILED, INTERRUPTED)
            session.add(script)
        session.commit()
        return row.id if row is not None else None


def _succeed(
    ctx: Context,
    script_id: str,
    execution: Execution,
    prepared: Prepared,
    result: RenderResult,
    options: RenderOptions,
    loop: _Loop,
) -> ExecuteResult:
    with ctx.session() as session:
        if session.get(Execution, execution.id) is None:  # deleted while rendering: publish nothing
            shutil.rmtree(ctx.settings.paths.staging / execution.id, ignore_errors=True)
            raise NotFound(f"script {script_id} was deleted while it rendered")
    outputs, output_path = _publish(ctx, script_id, execution.id, result)
    poster = make_poster(output_path)  # beside the video, cached renders too (render/poster.py)
    if ctx.media_sink is not None:  # a queue worker: the files go to the server first (the poster with them)
        sent, output_path = ctx.media_sink([*outputs, *([poster] if poster else [])], output_path)
        outputs, poster = (sent[:-1], sent[-1]) if poster else (sent, None)
    _attribute_cache(options, result, execution.id)
    with ctx.session() as session:
        row = _get(session, Execution, execution.id)
        row.status = (ExecutionStatus.CACHED if result.cached_from else ExecutionStatus.SUCCEEDED).value
        row.cached_from = result.cached_from
        row.is_successful = True
        row.log = result.log
        row.output_path = str(output_path)
        row.outputs = [str(path) for path in outputs]
        row.completed_at = utcnow()
        row.duration = result.duration
        row.sandbox = result.sandbox
        row.layout = [finding.to_dict() for finding in result.layout]
        session.add(row)
        script = _get(session, Script, script_id)
        script.content = prepared.code
        script.scenes = _all_scenes(prepared.code) or script.scenes
        script.scene_class = prepared.scenes[0]
        script.status = ScriptStatus.SUCCESSFUL.value
        script.error = None
        script.updated_at = utcnow()
        session.add(script)
        session.commit()
    ctx.events(Done(success=True, output_path=str(output_path)))
    return ExecuteResult(
        success=True,
        script_id=script_id,
        execution_id=execution.id,
        output_path=str(output_path),
        poster_path=str(poster) if poster else None,
        outputs=[str(path) for path in outputs],
        scene_outputs=_scene_outputs(prepared.scenes, outputs, result.still_scenes),
        attempts=len(loop.executions),
        executions=loop.executions,
        fixes=loop.fixes,
        status=ScriptStatus.SUCCESSFUL.value,
    )


def _attribute_cache(options: RenderOptions, result: RenderResult, execution_id: str) -> None:
    """The cache entries this attempt rendered now name it (a later hit says it is cached from it)."""
    cache = getattr(options.engine, "cache", None)
    if cache is not None and result.cache_keys:
        cache.attribute(result.cache_keys, execution_id)


def _scene_outputs(scenes: list[str], outputs: list[Path], stills: list[str]) -> list[dict]:
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


def _publish(
    ctx: Context, script_id: str, execution_id: str, result: RenderResult
) -> tuple[list[Path], Path]:
    """Join the scenes' videos when there are several, then move the complete folder into media.

    Images (still scenes with no --format) are not joined: `output_path` is the joined video of the
    videos, else the one video, else the first image."""
    staged = result.outputs
    joined = _join_videos(
        staged, ctx.settings.paths.staging / execution_id, reencode=bool(result.still_scenes)
    )
    final = _move_to_media(ctx, script_id, execution_id)
    outputs = [final / path.name for path in staged]
    shown = joined or (_videos(staged) or staged)[0]
    return outputs, final / shown.name


def _videos(paths: list[Path]) -> list[Path]:
    return [path for path in paths if path.suffix != ".png"]


def _join_videos(paths: list[Path], folder: Path, *, reencode: bool) -> Path | None:
    """`folder/all_scenes.<ext>`: the videos among `paths` joined in order, when there are several."""
    videos = _videos(paths)
    if len(videos) < 2:
        return None
    from manimagent.render.combine import combine_videos

    return combine_videos(videos, folder / f"all_scenes{videos[0].suffix}", reencode=reencode)


def _move_to_media(ctx: Context, script_id: str, execution_id: str) -> Path:
    """The execution's staging folder moved to `media/<script>/<execution>` (replacing one there)."""
    final = ctx.settings.paths.media / script_id / execution_id
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(ctx.settings.paths.staging / execution_id, final)
    return final


def _fail_execution(
    ctx: Context, execution: Execution, result: RenderResult, failure: RenderFailure, partial: bool = False
) -> tuple[list[Path], Path | None]:
    """Store the failed attempt; returns where the scenes that did render were kept, and with
    `partial` (--partial) the video those scenes make together."""
    kept: list[Path] = []
    joined: Path | None = None
    with ctx.session() as session:
        row = _get(session, Execution, execution.id)
        row.finish(ExecutionStatus.FAILED, failure.summary())
        row.is_successful = False
        row.log = result.log
        row.error_type = failure.error_type
        row.error_line = failure.line
        row.duration = result.duration
        row.sandbox = result.sandbox
        row.layout = [finding.to_dict() for finding in result.layout]
        if result.partial:
            kept = _publish_partial(ctx, execution, result.partial)
            row.outputs = [str(path) for path in kept]
            joined = _join_partial(kept, reencode=bool(result.still_scenes)) if partial else None
            row.output_path = str(joined) if joined else None
        session.add(row)
        session.commit()
    return kept, joined


def _join_partial(kept: list[Path], *, reencode: bool) -> Path | None:
    """The kept scenes' videos as one (`all_scenes`, as for a success), or the one video kept."""
    if not kept:
        return None
    try:
        joined = _join_videos(kept, kept[0].parent, reencode=reencode)
    except ManimagentError:  # the scenes stay kept one by one; the attempt has failed anyway
        return None
    return joined or next(iter(_videos(kept)), None)


def _publish_partial(ctx: Context, execution: Execution, staged: list[Path]) -> list[Path]:
    """A failed attempt's finished scenes, moved into media where its video would have gone."""
    final = _move_to_media(ctx, execution.script_id, execution.id)
    return [final / path.name for path in staged]


def _record_modified(ctx: Context, execution_id: str, code: str) -> None:
    """The failed attempt's `modified_script` is the repaired code the next attempt renders."""
    with ctx.session() as session:
        row = _get(session, Execution, execution_id)
        row.modified_script = code
        session.add(row)
        session.commit()


def _repair(
    ctx: Context,
    script_id: str,
    code: str,
    failure: RenderFailure,
    options: RenderOptions,
    attempt: int,
    repairer: Repairer | None,
    loop: _Loop,
) -> str | None:
    """The next attempt's code: a deterministic fix if one applies, else the LLM's repair.

    Without a real LLM the loop stops here: the offline provider writes new scenes, it never
    repairs someone's code, so the user's script is kept as it is."""
    fixed, fixes = fix_after_failure(code, failure, has_latex(options.engine))
    if fixes:
        for fix in fixes:
            ctx.events(FixApplied(name=fix.name, description=fix.description, line=fix.line))
        loop.pending = fixes
        loop.repaired_by_llm = None
        return fixed
    if repairer is None:
        return None
    loop.repair_stopped = repairer.unavailable(script_id)
    if loop.repair_stopped:
        ctx.events(Notice(message=loop.repair_stopped))
        return None
    ctx.events(RepairStarted(attempt=attempt + 1, max_attempts=options.max_attempts))
    _set_script(ctx, script_id, ScriptStatus.DEBUGGING)
    try:
        repaired = repairer(script_id, code, failure)
    except ProviderError as exc:
        _set_script(ctx, script_id, ScriptStatus.FAILED, error=f"repair failed: {exc.message}")
        return None
    loop.repaired_by_llm = (failure, code)
    return repaired


def _set_script(ctx: Context, script_id: str, status: ScriptStatus, error: str | None = None) -> None:
    with ctx.session() as session:
        script = _get(session, Script, script_id)
        script.set_status(status, error)
        session.add(script)
        session.commit()


def _give_up(
    ctx: Context, script_id: str, failure: RenderFailure | None, loop: _Loop, first_refused: bool
) -> ExecuteResult:
    error = failure.summary() if failure else "the render failed"
    _set_script(ctx, script_id, ScriptStatus.FAILED, error=error)
    ctx.events(Done(success=False, error=error))
    if first_refused:
        raise InvalidScript(f"the script was refused: {error}", hint="Remove the forbidden imports or calls")
    return ExecuteResult(
        success=False,
        script_id=script_id,
        execution_id=loop.executions[-1] if loop.executions else None,
        attempts=len(loop.executions),
        executions=loop.executions,
        fixes=loop.fixes,
        repair_stopped=loop.repair_stopped,
        status=ScriptStatus.FAILED.value,
        error=error,
        outputs=[str(path) for path in loop.kept],
        output_path=str(loop.joined) if loop.joined else None,
        scene_outputs=_failed_scene_outputs(loop),
    )


def _failed_scene_outputs(loop: _Loop) -> list[dict]:
    """Per scene of a failed multi-scene render: its status, and its file where it rendered."""
    by_scene = {path.stem: path for path in loop.kept}
    return [
        {
            "scene": scene,
            "status": status,
            "path": str(by_scene[scene]) if scene in by_scene else None,
            "kind": output_kind(by_scene[scene], False) if scene in by_scene else None,
        }
        for scene, status in loop.scene_status.items()
    ]
