"""Executions: the render attempts of scripts — list, show, retry."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from manimagent.services.context import Context
from manimagent.services.ids import resolve_uuid
from manimagent.services.schemas import ExecuteResult, ExecutionDetail, ExecutionPublic
from manimagent.store.models import ABANDON_GRACE, Execution, ExecutionStatus, Script, ScriptStatus, utcnow

MAX_LIST = 10_000
ABANDONED = "abandoned: the process rendering it ended without a result (killed or crashed)"


def settle_abandoned(ctx: Context, session: Session) -> int:
    """Mark running executions past their deadline as interrupted, and their scripts failed; and
    scripts left `debugging` for longer than an LLM repair can take, failed.

    They were left by a process that died without its Ctrl-C handling (SIGKILL, power loss, a
    killed CI runner). Called before executions and scripts are read, so nobody sees a render
    "running" forever. Returns how many rows were settled.
    """
    now = utcnow()
    stale = session.exec(
        select(Execution).where(Execution.status == ExecutionStatus.RUNNING.value, col(Execution.deadline).is_not(None), col(Execution.deadline) < now)
    ).all()
    abandoned: list[Script] = []
    for row in stale:
        row.finish(ExecutionStatus.INTERRUPTED, ABANDONED)
        session.add(row)
        script = session.get(Script, row.script_id)
        if script is not None and script.status == ScriptStatus.EXECUTING.value:
            abandoned.append(script)
    repair_bound = float(ctx.settings.llm_timeout) * (int(ctx.settings.llm_retries) + 1) + ABANDON_GRACE
    abandoned += session.exec(
        select(Script).where(Script.status == ScriptStatus.DEBUGGING.value, col(Script.updated_at) < now - timedelta(seconds=repair_bound))
    ).all()
    for script in abandoned:
        script.set_status(ScriptStatus.FAILED, ABANDONED)
        session.add(script)
    if stale or abandoned:
        session.commit()
    return len(stale) + len(abandoned)


def execution_public(execution: Execution, prompt: str | None = None) -> ExecutionPublic:
    return ExecutionPublic.model_validate({**execution.model_dump(), "script": execution.script_id, "prompt": prompt})


def list_executions(ctx: Context, *, script_ref: str | None = None, limit: int | None = None) -> list[ExecutionPublic]:
    query = select(Execution).order_by(col(Execution.created_at).desc()).limit(limit or MAX_LIST)
    with ctx.session() as session:
        settle_abandoned(ctx, session)
        if script_ref is not None:
            script = resolve_uuid(session, ctx, Script, script_ref, "script")
            query = query.where(Execution.script_id == script.id)
        if ctx.user_id is not None:
            query = query.where(Execution.owner_id == ctx.user_id)
        rows = session.exec(query).all()
        prompts = _prompts(session, {row.script_id for row in rows})
        return [execution_public(row, prompts.get(row.script_id)) for row in rows]


def _prompts(session: Session, script_ids: set[str]) -> dict[str, str]:
    if not script_ids:
        return {}
    return dict(session.exec(select(Script.id, Script.prompt).where(col(Script.id).in_(script_ids))).all())


def get_execution(ctx: Context, *, ref: str) -> ExecutionDetail:
    with ctx.session() as session:
        settle_abandoned(ctx, session)
        row = resolve_uuid(session, ctx, Execution, ref, "execution")
        prompt = _prompts(session, {row.script_id}).get(row.script_id)
        return ExecutionDetail.model_validate({**row.model_dump(), "script": row.script_id, "prompt": prompt})


def queue_execution(ctx: Context, *, script_ref: str) -> str:
    """A `queued` Execution row for a render that will start later (REST `"wait": false`);
    its id is pollable at once, and the render's first attempt takes the row over."""
    with ctx.session() as session:
        script = resolve_uuid(session, ctx, Script, script_ref, "script")
        row = Execution(script_id=script.id, owner_id=ctx.user_id, attempt_number=0, status=ExecutionStatus.QUEUED.value)
        session.add(row)
        session.commit()
        return row.id


def fail_queued(ctx: Context, execution_id: str, error: str) -> None:
    """A queued render that could not start (bad option, Docker unreachable): say so on its row."""
    with ctx.session() as session:
        row = session.get(Execution, execution_id)
        _fail_if_queued(session, [row] if row is not None else [], error)


SERVER_STOPPED = "the server stopped before this render started"


def fail_all_queued(ctx: Context, error: str = SERVER_STOPPED) -> int:
    """Fail every queued execution: a server's queue lives in its process, so when `serve` starts
    or stops, queued rows belong to no one (one `serve` per database). Returns how many."""
    with ctx.session() as session:
        rows = session.exec(select(Execution).where(Execution.status == ExecutionStatus.QUEUED.value)).all()
        return _fail_if_queued(session, rows, error)


def _fail_if_queued(session: Session, rows: list[Execution], error: str) -> int:
    queued = [row for row in rows if row.status == ExecutionStatus.QUEUED.value]
    for row in queued:
        row.finish(ExecutionStatus.FAILED, error)
        session.add(row)
    if queued:
        session.commit()
    return len(queued)


def retry_execution(
    ctx: Context, *, ref: str, max_attempts: int | None = None, engine: str | None = None, container: str | None = None, queued: str | None = None
) -> ExecuteResult:
    """Render the execution's script again with the same engine, quality, format and scenes."""
    from manimagent.services.render import execute_script

    with ctx.session() as session:
        row = resolve_uuid(session, ctx, Execution, ref, "execution")
    return execute_script(
        ctx,
        ref=row.script_id,
        engine=engine or row.engine,
        container=container or (row.container if (engine or row.engine) == "docker" else None),
        quality=row.quality,
        format=row.format,
        scenes=row.scenes or None,
        max_attempts=max_attempts or 1,
        queued=queued,
    )
