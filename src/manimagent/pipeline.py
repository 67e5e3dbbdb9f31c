"""The pipeline: check -> fix -> render -> repair, one Execution row per attempt, emitting events.

`run_attempts` is the loop every render goes through (render FILE, scripts execute, generate,
retry): each attempt is one decision (rendered, try this code next, or stop), taken with one
database session; store/attempts.py writes the rows. Repairs are deterministic first
(scriptcheck.fixes), then the `Repairer` strategy passed in (services/repair.py: the LLM, fix
memory). Each attempt's render is started before its rows are written, so bookkeeping overlaps
rendering, and its files move once, from the render's job folder into media.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manimagent.attempt import (
    AFTER_FAILURE,
    BEFORE_RENDER,
    JOINED_STEM,
    Attempt,
    NewScript,
    RenderOptions,
    Repairer,
    all_scenes,
    begin_attempt,
    has_latex,
    media_folder,
    new_id,
    output_kind,
    prepared_events,
    scene_outputs,
)
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
from manimagent.render.poster import make_poster, reuse_poster
from manimagent.render.poster import warm_up as warm_up_poster
from manimagent.schemas import ExecuteResult
from manimagent.scriptcheck.fixes import AppliedFix, fix_after_failure
from manimagent.scriptcheck.prepare import Prepared
from manimagent.store import attempts as rows
from manimagent.store.attempts import INTERRUPTED
from manimagent.store.models import (
    ABANDON_GRACE,
    Execution,
    ExecutionStatus,
    Script,
    ScriptStatus,
    utcnow,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from manimagent.render.staged import StagedRender

__all__ = ["INTERRUPTED", "output_kind", "run_attempts", "settle_interrupted"]


def run_attempts(
    ctx: Context,
    script: str | Script | NewScript,
    options: RenderOptions,
    repairer: Repairer | None = None,
    first: Attempt | None = None,
    queued: str | None = None,
) -> ExecuteResult:
    """Render the script, repairing and retrying until success or `max_attempts` renders.

    `script`: a stored script (its id, or its row) or a new one; `first`: an attempt already
    started; `queued`: a queued Execution row the first attempt takes over.
    """
    run = _Run.of(ctx, script, options, repairer, queued)
    attempt = first
    for number in range(1, options.max_attempts + 1):
        attempt = attempt or _begin(run, number)
        decision = _attempt(run, number, attempt)
        attempt = None
        if decision.result is not None:
            return decision.result
        if decision.next_code is None:
            break
        run.code = decision.next_code
    return _give_up(run)


@dataclass
class _Decision:
    """What an attempt decided: it rendered (`result`), or the code to try next (None: stop)."""

    result: ExecuteResult | None = None
    next_code: str | None = None


@dataclass
class _Run:
    """One run of the loop: what it renders and what its attempts have done so far."""

    ctx: Context
    options: RenderOptions
    repairer: Repairer | None
    code: str
    script_id: str
    new: NewScript | None = None  # a script its first attempt stores
    queued: str | None = None
    executions: list[str] = field(default_factory=list)
    # every deterministic fix tried, with its attempt
    fixes: list[dict[str, Any]] = field(default_factory=list)
    # fixes after a failure, for the next attempt's row
    pending: list[AppliedFix] = field(default_factory=list)
    # the failure and code the last LLM repair answered
    repaired_by_llm: tuple[RenderFailure, str] | None = None
    repair_stopped: str | None = None
    failure: RenderFailure | None = None
    refused_first: bool = False
    kept: list[Path] = field(default_factory=list)  # the last failed attempt's scenes that rendered
    joined: Path | None = None  # with --partial: those scenes as one video
    scene_status: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        ctx: Context,
        script: str | Script | NewScript,
        options: RenderOptions,
        repairer: Repairer | None,
        queued: str | None,
    ) -> _Run:
        if isinstance(script, NewScript):
            return cls(ctx, options, repairer, script.code, script.id, new=script, queued=queued)
        row = script if isinstance(script, Script) else _load(ctx, script)
        return cls(ctx, options, repairer, row.content, row.id, queued=queued)

    def started(self, execution_id: str, number: int, fixes: list[AppliedFix]) -> None:
        self.executions.append(execution_id)
        for fix, stage in [
            *((fix, AFTER_FAILURE) for fix in self.pending),
            *((fix, BEFORE_RENDER) for fix in fixes),
        ]:
            self.fixes.append({**fix.to_dict(), "attempt": number, "stage": stage})
        self.pending = []


def _begin(run: _Run, number: int) -> Attempt:
    """Start the attempt's render; its Execution's id is chosen here (the first may take over a
    queued row), and the render writes into that execution's media folder."""
    execution_id = (run.queued if number == 1 else None) or new_id()
    return begin_attempt(
        run.ctx, run.code, run.options, strict=number == 1, script_id=run.script_id, execution_id=execution_id
    )


def _attempt(run: _Run, number: int, attempt: Attempt) -> _Decision:
    """One attempt with one session: its rows, its render, then success or the next code.

    The rows' ids were chosen before the rows are written: an interrupt landing anywhere from here
    on (a batch's lands at any bytecode) settles whichever of them were written."""
    new_script, run.new = run.new, None
    script_id, execution_id = run.script_id, attempt.execution_id
    try:
        with run.ctx.session() as session:
            execution, started = _store_rows(run, session, number, attempt, execution_id, new_script)
            result = _wait(run.ctx, session, execution, attempt, started)
            if result.ok:
                _remember_repair(run)
                return _Decision(result=_succeed(run, session, execution, attempt, result))
            next_code = _after_failure(run, session, number, attempt, execution, result)
            if next_code is None:
                rows.set_script_status(session, script_id, ScriptStatus.FAILED, _error(run))
            return _Decision(next_code=next_code)
    except KeyboardInterrupt as exc:
        _cancel(attempt.job)
        if isinstance(exc, Interrupted):  # the render's wait settled its rows already
            raise
        raise Interrupted(settle_interrupted(run.ctx, script_id, execution_id)) from exc


def _cancel(job: StagedRender | None) -> None:
    if job is not None:
        job.cancel()


def _store_rows(
    run: _Run,
    session: Session,
    number: int,
    attempt: Attempt,
    execution_id: str,
    new_script: NewScript | None,
) -> tuple[Execution, RenderStarted]:
    """The attempt's rows (a new script with its first execution, or the next execution), and the
    event that announces its render. Anything going wrong here stops the render."""
    try:
        _report(run.ctx, attempt.prepared)
        if new_script is not None:
            execution = _store_new(
                run.ctx, session, new_script, run.options, attempt.prepared, run.script_id, execution_id
            )
        else:
            execution = _start_execution(run, session, attempt.prepared, execution_id, number)
        session.expunge_all()  # what the render's end reads is read again (rows may go meanwhile)
        run.started(execution.id, number, attempt.prepared.fixes)
        started = RenderStarted(
            attempt=number,
            max_attempts=run.options.max_attempts,
            engine=run.options.engine.name,
            scenes=attempt.prepared.scenes,
            execution_id=execution.id,
        )
    except BaseException:
        _cancel(attempt.job)
        raise
    return execution, started


def _remember_repair(run: _Run) -> None:
    """The code an LLM repair wrote rendered: the repairer keeps the fix (fix memory)."""
    if run.repaired_by_llm is not None and run.repairer is not None:
        failure, before = run.repaired_by_llm
        run.repairer.succeeded(run.script_id, failure, before, run.code)


def _load(ctx: Context, script_id: str) -> Script:
    with ctx.session() as session:
        return rows.get_row(session, Script, script_id)


def _store_new(
    ctx: Context,
    session: Session,
    script: NewScript,
    options: RenderOptions,
    prepared: Prepared,
    script_id: str,
    execution_id: str,
) -> Execution:
    """A new Script and its first Execution, written in one transaction."""
    row = Script(
        id=script_id,
        owner_id=ctx.user_id,
        prompt=script.prompt,
        content=script.code,
        scenes=all_scenes(script.code),
        scene_class=prepared.scenes[0] if prepared.scenes else None,
        source=script.source,
    )
    execution = Execution(
        id=execution_id, **_execution_fields(ctx, row.id, options, script.code, prepared, attempt_number=1)
    )
    rows.store_new(session, row, execution)
    return execution


def _report(ctx: Context, prepared: Prepared) -> None:
    for event in prepared_events(prepared):
        ctx.events(event)


def _start_execution(
    run: _Run, session: Session, prepared: Prepared, execution_id: str, number: int
) -> Execution:
    """The attempt's Execution row; the first attempt may take over a queued row (`run.queued`)."""
    queued = run.queued if number == 1 else None
    fields = _execution_fields(
        run.ctx,
        run.script_id,
        run.options,
        run.code,
        prepared,
        rows.next_attempt_number(session, run.script_id, queued),
        run.pending,
    )
    return rows.start_execution(session, run.script_id, execution_id, fields, queued)


def _execution_fields(
    ctx: Context,
    script_id: str,
    options: RenderOptions,
    code: str,
    prepared: Prepared,
    attempt_number: int,
    after_failure: list[AppliedFix] | None = None,
) -> dict[str, Any]:
    """The columns of a running attempt's Execution row (its status: Execution.start)."""
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
        original_script=code,
        modified_script=prepared.code if prepared.code != code else None,
        fixes=[
            *({**fix.to_dict(), "stage": AFTER_FAILURE} for fix in after_failure or []),
            *(fix.to_dict() for fix in prepared.fixes),
        ],
        started_at=started,
        deadline=started + timedelta(seconds=options.timeout + ABANDON_GRACE),
    )


def _wait(
    ctx: Context, session: Session, execution: Execution, attempt: Attempt, started: RenderStarted
) -> RenderResult:
    """Announce the stored attempt and wait for its render; from here on, Ctrl-C marks it interrupted.
    The engine moves each finished file from its job folder into the execution's media folder
    (attempt.begin_attempt); an attempt that keeps none discards them."""
    try:
        refusal = attempt.prepared.refusal
        if refusal is not None or attempt.job is None:  # nothing renders, so no "Rendering ..." first
            failure = refusal or RenderFailure("RenderError", "the render failed")
            return RenderResult(
                ok=False, failure=failure, log=f"refused before rendering: {failure.summary()}"
            )
        ctx.events(started)
        warm_up_poster()
        result = attempt.job.wait()
    except KeyboardInterrupt as exc:
        _cancel(attempt.job)
        raise Interrupted(settle_interrupted(ctx, execution.script_id, execution.id)) from exc
    except ManimagentError as exc:
        failure = RenderFailure(type(exc).__name__, exc.message)
        _fail_execution(ctx, session, execution, None, RenderResult(ok=False), failure)
        rows.set_script_status(session, execution.script_id, ScriptStatus.FAILED, error=exc.message)
        raise
    result = _judge_layout(ctx, result)
    if not result.ok and not result.partial:
        attempt.job.discard()
    return result


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
        return rows.settle_interrupted(session, script_id, execution_id)


def _succeed(
    run: _Run, session: Session, execution: Execution, attempt: Attempt, result: RenderResult
) -> ExecuteResult:
    """The rendered attempt: its files moved into media (once), its rows successful, its result."""
    ctx, script_id, prepared = run.ctx, execution.script_id, attempt.prepared
    assert attempt.job is not None
    if session.get(Execution, execution.id) is None:  # deleted while rendering: publish nothing
        attempt.job.discard()
        raise NotFound(f"script {script_id} was deleted while it rendered")
    session.commit()  # no transaction stays open while the files move (and, for a worker, travel)
    outputs, output_path = _publish(ctx, script_id, execution.id, attempt.job, result)
    poster = _poster(session, result, output_path)
    if ctx.media_sink is not None:  # a queue worker: the files go to the server first (the poster with them)
        sent, output_path = ctx.media_sink([*outputs, *([poster] if poster else [])], output_path)
        outputs, poster = (sent[:-1], sent[-1]) if poster else (sent, None)
    _attribute_cache(run.options, result, execution.id)
    rows.succeed(
        session,
        script_id,
        execution.id,
        ExecutionStatus.CACHED if result.cached_from else ExecutionStatus.SUCCEEDED,
        cached_from=result.cached_from,
        log=result.log,
        output_path=str(output_path),
        outputs=[str(path) for path in outputs],
        duration=result.duration,
        sandbox=result.sandbox,
        layout=[finding.to_dict() for finding in result.layout],
        content=prepared.code,
        scenes=all_scenes(prepared.code),
        scene_class=prepared.scenes[0],
    )
    ctx.events(Done(success=True, output_path=str(output_path)))
    return ExecuteResult(
        success=True,
        script_id=script_id,
        execution_id=execution.id,
        output_path=str(output_path),
        poster_path=str(poster) if poster else None,
        outputs=[str(path) for path in outputs],
        scene_outputs=scene_outputs(prepared.scenes, outputs, result.still_scenes),
        attempts=len(run.executions),
        executions=run.executions,
        fixes=run.fixes,
        status=ScriptStatus.SUCCESSFUL.value,
    )


def _poster(session: Session, result: RenderResult, output_path: Path) -> Path | None:
    """The poster beside the video (render/poster.py): a cached render's is its source's, linked,
    when the two videos are one file; any other is made from the video."""
    if result.cached_from:
        source = session.get(Execution, result.cached_from)
        reused = reuse_poster(output_path, source.output_path if source is not None else None)
        if reused is not None:
            return reused
    return make_poster(output_path)


def _attribute_cache(options: RenderOptions, result: RenderResult, execution_id: str) -> None:
    """The cache entries this attempt rendered now name it (a later hit says it is cached from it)."""
    cache = getattr(options.engine, "cache", None)
    if cache is not None and result.cache_keys:
        cache.attribute(result.cache_keys, execution_id)


def _publish(
    ctx: Context, script_id: str, execution_id: str, job: StagedRender, result: RenderResult
) -> tuple[list[Path], Path]:
    """The files in `media/<script>/<execution>`: the render left the scenes' there; their join,
    when there are several videos, is made aside and moved in once complete.

    Images (still scenes with no --format) are not joined: `output_path` is the joined video of the
    videos, else the one video, else the first image."""
    staged = result.outputs
    job.staging.mkdir(parents=True, exist_ok=True)
    joined = _join_videos(staged, job.staging, reencode=bool(result.still_scenes))
    files = replace(result, outputs=[*staged, *([joined] if joined else [])])
    moved = job.keep_as(media_folder(ctx, script_id, execution_id), files).outputs
    outputs = moved[: len(staged)]
    shown = moved[-1] if joined else (_videos(outputs) or outputs)[0]
    return outputs, shown


def _videos(paths: list[Path]) -> list[Path]:
    return [path for path in paths if path.suffix != ".png"]


def _join_videos(paths: list[Path], folder: Path, *, reencode: bool) -> Path | None:
    """`folder/all_scenes.<ext>`: the videos among `paths` joined in order, when there are several."""
    videos = _videos(paths)
    if len(videos) < 2:
        return None
    from manimagent.render.combine import combine_videos

    joined: Path = combine_videos(videos, folder / f"{JOINED_STEM}{videos[0].suffix}", reencode=reencode)
    return joined


def _fail_execution(
    ctx: Context,
    session: Session,
    execution: Execution,
    job: StagedRender | None,
    result: RenderResult,
    failure: RenderFailure,
    partial: bool = False,
) -> tuple[list[Path], Path | None]:
    """Store the failed attempt; returns where the scenes that did render were kept (moved into
    media where its video would have gone), and with `partial` (--partial) the video those scenes
    make together."""
    rows.get_row(session, Execution, execution.id)  # deleted meanwhile: nothing is kept
    kept: list[Path] = []
    joined: Path | None = None
    columns: dict[str, Any] = {}
    if result.partial and job is not None:
        folder = media_folder(ctx, execution.script_id, execution.id)
        kept = job.keep_as(folder, replace(result, outputs=result.partial)).outputs
        joined = _join_partial(kept, reencode=bool(result.still_scenes)) if partial else None
        columns = {"outputs": [str(path) for path in kept], "output_path": str(joined) if joined else None}
    rows.finish_execution(
        session,
        execution.id,
        ExecutionStatus.FAILED,
        failure.summary(),
        is_successful=False,
        log=result.log,
        error_type=failure.error_type,
        error_line=failure.line,
        duration=result.duration,
        sandbox=result.sandbox,
        layout=[finding.to_dict() for finding in result.layout],
        **columns,
    )
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


def _after_failure(
    run: _Run, session: Session, number: int, attempt: Attempt, execution: Execution, result: RenderResult
) -> str | None:
    """Store the failed attempt and decide: the code of the next attempt, or None to stop."""
    failure = result.failure or RenderFailure("RenderError", "the render failed")
    failure.line = line_in_script(failure.line, attempt.prepared.code)
    run.kept, run.joined = _fail_execution(
        run.ctx, session, execution, attempt.job, result, failure, partial=run.options.partial
    )
    run.scene_status = result.scene_status
    run.failure = failure
    run.ctx.events(RenderFailed(attempt=number, error=failure.summary()))
    run.refused_first = number == 1 and attempt.prepared.refusal is not None
    if number == run.options.max_attempts:
        return None
    code = _repair(run, session, attempt.prepared.code, failure, number)
    if code is not None:
        rows.record_modified(session, execution.id, code)
    return code


def _repair(run: _Run, session: Session, code: str, failure: RenderFailure, attempt: int) -> str | None:
    """The next attempt's code: a deterministic fix if one applies, else the repairer's.

    Without a real LLM the loop stops here: the offline provider writes new scenes, it never
    repairs someone's code, so the user's script is kept as it is."""
    ctx, repairer, script_id = run.ctx, run.repairer, run.script_id
    fixed, fixes = fix_after_failure(code, failure, has_latex(run.options.engine))
    if fixes:
        for fix in fixes:
            ctx.events(FixApplied(name=fix.name, description=fix.description, line=fix.line))
        run.pending = fixes
        run.repaired_by_llm = None
        return fixed
    if repairer is None:
        return None
    run.repair_stopped = repairer.unavailable(script_id)
    if run.repair_stopped:
        ctx.events(Notice(message=run.repair_stopped))
        return None
    ctx.events(RepairStarted(attempt=attempt + 1, max_attempts=run.options.max_attempts))
    rows.set_script_status(session, script_id, ScriptStatus.DEBUGGING)
    try:
        repaired = repairer(script_id, code, failure)
    except ProviderError as exc:
        rows.set_script_status(session, script_id, ScriptStatus.FAILED, error=f"repair failed: {exc.message}")
        return None
    run.repaired_by_llm = (failure, code)
    return repaired


def _error(run: _Run) -> str:
    return run.failure.summary() if run.failure else "the render failed"


def _give_up(run: _Run) -> ExecuteResult:
    """The last attempt failed (its script was marked failed with it): the failure's result."""
    error = _error(run)
    run.ctx.events(Done(success=False, error=error))
    if run.refused_first and len(run.executions) == 1:
        raise InvalidScript(f"the script was refused: {error}", hint="Remove the forbidden imports or calls")
    return ExecuteResult(
        success=False,
        script_id=run.script_id,
        execution_id=run.executions[-1] if run.executions else None,
        attempts=len(run.executions),
        executions=run.executions,
        fixes=run.fixes,
        repair_stopped=run.repair_stopped,
        status=ScriptStatus.FAILED.value,
        error=error,
        outputs=[str(path) for path in run.kept],
        output_path=str(run.joined) if run.joined else None,
        scene_outputs=_failedscene_outputs(run),
    )


def _failedscene_outputs(run: _Run) -> list[dict[str, Any]]:
    """Per scene of a failed multi-scene render: its status, and its file where it rendered."""
    by_scene = {path.stem: path for path in run.kept}
    return [
        {
            "scene": scene,
            "status": status,
            "path": str(by_scene[scene]) if scene in by_scene else None,
            "kind": output_kind(by_scene[scene], False) if scene in by_scene else None,
        }
        for scene, status in run.scene_status.items()
    ]
