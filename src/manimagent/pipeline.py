"""The pipeline: check -> fix -> render -> repair, one Execution row per attempt, emitting events.

`run_attempts` is the loop every render goes through (render FILE, scripts execute, generate,
retry). Repairs are deterministic first (scriptcheck.fixes), then the LLM through `repairer`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from manimagent.errors import InvalidScript, ManimagentError, ProviderError
from manimagent.events import CheckFinding, Done, FixApplied, RenderFailed, RenderStarted, RepairStarted
from manimagent.render.base import OutputFormat, Quality, RenderEngine, RenderFailure, RenderRequest, RenderResult
from manimagent.scriptcheck.check import check_script, select_scenes
from manimagent.scriptcheck.fixes import AppliedFix, fix_after_failure, fix_before_render
from manimagent.services.context import Context
from manimagent.services.schemas import ExecuteResult
from manimagent.services.scripts import known_manim_names
from manimagent.store.models import Execution, ExecutionStatus, Script, ScriptStatus, utcnow

# code and the failure it caused -> new code (raises ProviderError when the LLM cannot help)
Repairer = Callable[[str, RenderFailure], str]


@dataclass
class RenderOptions:
    engine: RenderEngine
    quality: Quality
    format: OutputFormat
    max_attempts: int
    timeout: float
    scenes: list[str] | None = None


@dataclass
class _Prepared:
    code: str
    scenes: list[str]
    fixes: list[AppliedFix] = field(default_factory=list)
    refusal: RenderFailure | None = None


def run_attempts(ctx: Context, script_id: str, options: RenderOptions, repairer: Repairer | None = None) -> ExecuteResult:
    """Render the script, repairing and retrying until success or `max_attempts` renders."""
    code = _load(ctx, script_id).content
    executions: list[str] = []
    failure: RenderFailure | None = None
    for attempt in range(1, options.max_attempts + 1):
        prepared = _prepare(ctx, code, options, attempt, failure)
        execution = _start_execution(ctx, script_id, options, attempt, code, prepared)
        executions.append(execution.id)
        result = _render(ctx, execution, prepared, options)
        if result.ok:
            return _succeed(ctx, script_id, execution, prepared, result, options, executions)
        failure = result.failure or RenderFailure("RenderError", "the render failed")
        _fail_execution(ctx, execution, result, failure)
        ctx.events(RenderFailed(attempt=attempt, error=failure.summary()))
        if attempt == options.max_attempts:
            break
        code = _repair(ctx, script_id, prepared.code, failure, options, attempt, repairer)
        if code is None:
            break
        _record_modified(ctx, execution.id, code)
    return _give_up(ctx, script_id, failure, executions, first_refused=len(executions) == 1 and prepared.refusal is not None)


def _load(ctx: Context, script_id: str) -> Script:
    with ctx.session() as session:
        script = session.get(Script, script_id)
        assert script is not None
        return script


def _prepare(ctx: Context, code: str, options: RenderOptions, attempt: int, previous: RenderFailure | None) -> _Prepared:
    try:
        report = check_script(code, known_manim_names(ctx))
    except InvalidScript as exc:
        if attempt == 1:
            raise
        line = exc.details.get("line") if isinstance(exc.details, dict) else None
        return _Prepared(code, [], refusal=RenderFailure("InvalidScript", exc.message, line))
    wanted = options.scenes
    if attempt > 1 and wanted and not set(wanted) <= set(report.scenes):
        wanted = None  # a repair renamed the scenes: render what it wrote
    scenes = select_scenes(report, wanted)
    undefined = {finding.message.split(" ", 1)[0] for finding in report.findings if finding.code == "undefined-name"}
    fixed, fixes = fix_before_render(code, undefined, _has_latex(options.engine))
    for fix in fixes:
        ctx.events(FixApplied(name=fix.name, description=fix.description, line=fix.line))
    if fixes:
        report = check_script(fixed, known_manim_names(ctx))
    for finding in report.findings:
        ctx.events(CheckFinding(severity=finding.severity, code=finding.code, message=finding.describe(), line=finding.line))
    refusal = None
    if report.policy_errors:
        first = report.policy_errors[0]
        refusal = RenderFailure("PolicyViolation", "; ".join(item.describe() for item in report.policy_errors), first.line)
    return _Prepared(fixed, scenes, fixes, refusal)


def _has_latex(engine: RenderEngine) -> bool:
    return bool(getattr(engine, "has_latex", True))


def _start_execution(ctx: Context, script_id: str, options: RenderOptions, attempt: int, code: str, prepared: _Prepared) -> Execution:
    execution = Execution(
        script_id=script_id,
        owner_id=ctx.user_id,
        attempt_number=_next_attempt_number(ctx, script_id),
        engine=options.engine.name,
        container=getattr(options.engine, "container_name", None),
        quality=options.quality.value,
        format=options.format.value,
        scenes=prepared.scenes,
        status=ExecutionStatus.RUNNING.value,
        original_script=code,
        modified_script=prepared.code if prepared.code != code else None,
        fixes=[fix.to_dict() for fix in prepared.fixes],
        started_at=utcnow(),
    )
    with ctx.session() as session:
        session.add(execution)
        script = session.get(Script, script_id)
        script.status = ScriptStatus.EXECUTING.value
        script.updated_at = utcnow()
        session.add(script)
        session.commit()
    ctx.events(RenderStarted(attempt=attempt, max_attempts=options.max_attempts, engine=options.engine.name, scenes=prepared.scenes, execution_id=execution.id))
    return execution


def _next_attempt_number(ctx: Context, script_id: str) -> int:
    from sqlmodel import func, select

    with ctx.session() as session:
        count = session.exec(select(func.count()).select_from(Execution).where(Execution.script_id == script_id)).one()
    return int(count) + 1


def _render(ctx: Context, execution: Execution, prepared: _Prepared, options: RenderOptions) -> RenderResult:
    if prepared.refusal is not None:
        return RenderResult(ok=False, failure=prepared.refusal, log=f"refused before rendering: {prepared.refusal.summary()}")
    request = RenderRequest(
        code=prepared.code,
        scenes=prepared.scenes,
        quality=options.quality,
        format=options.format,
        timeout=options.timeout,
        job_id=execution.id,
    )
    staging = ctx.settings.paths.staging / execution.id
    try:
        return options.engine.render(request, staging, on_progress=ctx.events)
    except KeyboardInterrupt:
        _interrupted(ctx, execution)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except ManimagentError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        _fail_execution(ctx, execution, RenderResult(ok=False), RenderFailure(type(exc).__name__, exc.message))
        _set_script(ctx, execution.script_id, ScriptStatus.FAILED, error=exc.message)
        raise


def _interrupted(ctx: Context, execution: Execution) -> None:
    with ctx.session() as session:
        row = session.get(Execution, execution.id)
        row.status = ExecutionStatus.INTERRUPTED.value
        row.error = "interrupted"
        row.completed_at = utcnow()
        session.add(row)
        script = session.get(Script, execution.script_id)
        script.status = ScriptStatus.FAILED.value
        script.error = "interrupted"
        session.add(script)
        session.commit()


def _succeed(
    ctx: Context, script_id: str, execution: Execution, prepared: _Prepared, result: RenderResult, options: RenderOptions, executions: list[str]
) -> ExecuteResult:
    outputs, output_path = _publish(ctx, script_id, execution.id, result.outputs, options.format)
    with ctx.session() as session:
        row = session.get(Execution, execution.id)
        row.status = ExecutionStatus.SUCCEEDED.value
        row.is_successful = True
        row.log = result.log
        row.output_path = str(output_path)
        row.outputs = [str(path) for path in outputs]
        row.completed_at = utcnow()
        row.duration = result.duration
        session.add(row)
        script = session.get(Script, script_id)
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
        outputs=[str(path) for path in outputs],
        attempts=len(executions),
        executions=executions,
        status=ScriptStatus.SUCCESSFUL.value,
    )


def _all_scenes(code: str) -> list[str]:
    from manimagent.scriptcheck.scenes import find_scenes
    from manimagent.scriptcheck.source import parse_script

    return find_scenes(parse_script(code))


def _publish(ctx: Context, script_id: str, execution_id: str, staged: list[Path], fmt: OutputFormat) -> tuple[list[Path], Path]:
    """Join the scenes when there are several, then move the complete folder into media."""
    staging = ctx.settings.paths.staging / execution_id
    combined_name = None
    if len(staged) > 1 and fmt.is_video:
        from manimagent.render.combine import combine_videos

        combined_name = f"all_scenes.{fmt.value}"
        combine_videos(staged, staging / combined_name)
    final = ctx.settings.paths.media / script_id / execution_id
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    outputs = [final / path.name for path in staged]
    return outputs, final / combined_name if combined_name else outputs[0]


def _fail_execution(ctx: Context, execution: Execution, result: RenderResult, failure: RenderFailure) -> None:
    with ctx.session() as session:
        row = session.get(Execution, execution.id)
        row.status = ExecutionStatus.FAILED.value
        row.is_successful = False
        row.log = result.log
        row.error = failure.summary()
        row.error_type = failure.error_type
        row.error_line = failure.line
        row.completed_at = utcnow()
        row.duration = result.duration
        session.add(row)
        session.commit()
    shutil.rmtree(ctx.settings.paths.staging / execution.id, ignore_errors=True)


def _record_modified(ctx: Context, execution_id: str, code: str) -> None:
    """The failed attempt's `modified_script` is the repaired code the next attempt renders."""
    with ctx.session() as session:
        row = session.get(Execution, execution_id)
        row.modified_script = code
        session.add(row)
        session.commit()


def _repair(
    ctx: Context, script_id: str, code: str, failure: RenderFailure, options: RenderOptions, attempt: int, repairer: Repairer | None
) -> str | None:
    """The next attempt's code: a deterministic fix if one applies, else the LLM's repair."""
    fixed, fixes = fix_after_failure(code, failure, _has_latex(options.engine))
    if fixes:
        for fix in fixes:
            ctx.events(FixApplied(name=fix.name, description=fix.description, line=fix.line))
        return fixed
    if repairer is None:
        return None
    ctx.events(RepairStarted(attempt=attempt + 1, max_attempts=options.max_attempts))
    _set_script(ctx, script_id, ScriptStatus.DEBUGGING)
    try:
        return repairer(code, failure)
    except ProviderError as exc:
        _set_script(ctx, script_id, ScriptStatus.FAILED, error=f"repair failed: {exc.message}")
        return None


def _set_script(ctx: Context, script_id: str, status: ScriptStatus, error: str | None = None) -> None:
    with ctx.session() as session:
        script = session.get(Script, script_id)
        script.status = status.value
        if error is not None:
            script.error = error
        script.updated_at = utcnow()
        session.add(script)
        session.commit()


def _give_up(ctx: Context, script_id: str, failure: RenderFailure | None, executions: list[str], first_refused: bool) -> ExecuteResult:
    error = failure.summary() if failure else "the render failed"
    _set_script(ctx, script_id, ScriptStatus.FAILED, error=error)
    ctx.events(Done(success=False, error=error))
    if first_refused:
        raise InvalidScript(f"the script was refused: {error}", hint="Remove the forbidden imports or calls")
    return ExecuteResult(
        success=False,
        script_id=script_id,
        execution_id=executions[-1] if executions else None,
        attempts=len(executions),
        executions=executions,
        status=ScriptStatus.FAILED.value,
        error=error,
    )
