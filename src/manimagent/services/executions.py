"""Executions: the render attempts of scripts — list, show, retry."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import TypeAdapter
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from manimagent.context import Context
from manimagent.errors import Conflict
from manimagent.schemas import CancelResult, ExecuteResult, ExecutionDetail, ExecutionPublic
from manimagent.services.ids import resolve_uuid
from manimagent.store import attempts
from manimagent.store.models import ABANDON_GRACE, Execution, ExecutionStatus, Script, ScriptStatus, utcnow
from manimagent.store.owned import owned

DEFAULT_PAGE = 50  # what a list returns without a limit (REST and the CLI)
MAX_PAGE = 500  # the largest page REST serves
ABANDONED = "abandoned: the process rendering it ended without a result (killed or crashed)"
ORPHANED = "abandoned: its render was never stored (the process ended between the script and its execution)"


def sweep_abandoned(ctx: Context) -> int:
    """Settle the rows a dead process left (SIGKILL, power loss, a full disk): running executions
    past their deadline become interrupted and their scripts failed; scripts `debugging` for longer
    than an LLM repair can take, and scripts `executing` with no running or queued execution
    (orphans), fail. Every user's rows; returns how many were settled.

    `serve` runs this in a background thread (see server/sweep.py), never on a read; the local
    CLI, the only user of its store, runs it before it lists or shows. It reads first and takes
    the write lock only when there is something to settle.
    """
    with ctx.session() as session:
        stale, abandoned = _abandoned_rows(ctx, session)
        if not stale and not abandoned:
            session.rollback()
            return 0
        for row in stale:
            row.finish(ExecutionStatus.INTERRUPTED, ABANDONED)
            session.add(row)
        for script, reason in abandoned.values():
            script.set_status(ScriptStatus.FAILED, reason)
            session.add(script)
        session.commit()
        return len(stale) + len(abandoned)


def _abandoned_rows(ctx: Context, session: Session) -> tuple[list[Execution], dict[str, tuple[Script, str]]]:
    """(executions to interrupt, {script id: (script to fail, why)})."""
    now = utcnow()
    stale = list(
        session.exec(
            select(Execution).where(
                Execution.status == ExecutionStatus.RUNNING.value,
                col(Execution.deadline).is_not(None),
                col(Execution.deadline) < now,
            )
        ).all()
    )
    abandoned: dict[str, tuple[Script, str]] = {}
    for row in stale:
        script = session.get(Script, row.script_id)
        if script is not None and script.status == ScriptStatus.EXECUTING.value:
            abandoned[script.id] = (script, ABANDONED)
    repair_bound = ctx.settings.llm_timeout * (ctx.settings.llm_retries + 1) + ABANDON_GRACE
    for script in session.exec(
        select(Script).where(
            Script.status == ScriptStatus.DEBUGGING.value,
            col(Script.updated_at) < now - timedelta(seconds=repair_bound),
        )
    ).all():
        abandoned.setdefault(script.id, (script, ABANDONED))
    for script in _orphans(session, now - timedelta(seconds=ABANDON_GRACE), {row.id for row in stale}):
        abandoned.setdefault(script.id, (script, ORPHANED))
    return stale, abandoned


def _orphans(session: Session, before: datetime, settling: set[str]) -> list[Script]:
    """Scripts `executing` since before `before` with no execution running or queued (none of
    `settling`): a process died between writing the script and its execution."""
    live = select(Execution.script_id).where(
        col(Execution.status).in_([ExecutionStatus.RUNNING.value, ExecutionStatus.QUEUED.value]),
        col(Execution.id).not_in(settling or {""}),
    )
    query = select(Script).where(
        Script.status == ScriptStatus.EXECUTING.value,
        col(Script.updated_at) < before,
        col(Script.id).not_in(live),
    )
    return list(session.exec(query).all())


def sweep_for_local_reads(ctx: Context) -> None:
    """The local CLI sweeps before it reads (`serve` never does: its sweep runs in the background)."""
    if ctx.user_id is None:
        sweep_abandoned(ctx)


def page_bounds(limit: int | None, offset: int = 0) -> tuple[int | None, int]:
    """(limit, offset) checked: a limit of at least 1 (None: every row), an offset of at least 0."""
    from manimagent.errors import BadInput

    if limit is not None and limit < 1:
        raise BadInput("--limit must be at least 1")
    if offset < 0:
        raise BadInput("--offset must be at least 0")
    return limit, offset


def execution_public(execution: Execution, prompt: str | None = None) -> ExecutionPublic:
    return ExecutionPublic.model_validate(
        {**execution.model_dump(), "script": execution.script_id, "prompt": prompt}
    )


def list_executions(
    ctx: Context, *, script_ref: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ExecutionPublic]:
    """The caller's executions, newest first: `limit` of them (None: all) after skipping `offset`."""
    limit, offset = page_bounds(limit, offset)
    query = (
        sa_select(*LIST_COLUMNS, col(Script.prompt))
        .join(Script, col(Script.id) == col(Execution.script_id))
        .order_by(col(Execution.created_at).desc(), col(Execution.id).desc())
        .offset(offset)
        .limit(limit)
    )
    query = owned(query, ctx, Execution)
    sweep_for_local_reads(ctx)
    with ctx.session() as session:
        if script_ref is not None:
            script = resolve_uuid(session, ctx, Script, script_ref, "script")
            query = query.where(col(Execution.script_id) == script.id)
        return EXECUTIONS.validate_python([dict(row._mapping) for row in session.execute(query).all()])


EXECUTIONS = TypeAdapter(list[ExecutionPublic])
# what a list shows, read as plain rows (no ORM objects, no log or code)
LIST_COLUMNS = tuple(
    getattr(Execution, name).label("script") if name == "script_id" else getattr(Execution, name)
    for name in ExecutionPublic.model_fields
    if name not in {"prompt", "output_url", "poster_path", "poster_url"} and name != "script"
) + (col(Execution.script_id).label("script"),)


def _prompts(session: Session, script_ids: set[str]) -> dict[str, str]:
    if not script_ids:
        return {}
    return dict(session.exec(select(Script.id, Script.prompt).where(col(Script.id).in_(script_ids))).all())


def get_execution(ctx: Context, *, ref: str) -> ExecutionDetail:
    sweep_for_local_reads(ctx)
    with ctx.session() as session:
        row = resolve_uuid(session, ctx, Execution, ref, "execution")
        prompt = _prompts(session, {row.script_id}).get(row.script_id)
        return ExecutionDetail.model_validate({**row.model_dump(), "script": row.script_id, "prompt": prompt})


def queue_execution(ctx: Context, *, script_ref: str) -> str:
    """A `queued` Execution row for a render that will start later (REST `"wait": false`);
    its id is pollable at once, and the render's first attempt takes the row over."""
    with ctx.session() as session:
        script = resolve_uuid(session, ctx, Script, script_ref, "script")
        row = Execution(script_id=script.id, owner_id=ctx.user_id, attempt_number=0)  # queued
        session.add(row)
        session.commit()
        return row.id


def fail_queued(ctx: Context, execution_id: str, error: str) -> None:
    """A queued render that could not start (bad option, Docker unreachable): say so on its row."""
    with ctx.session() as session:
        row = session.get(Execution, execution_id)
        attempts.fail_queued(session, [row] if row is not None else [], error)


SERVER_STOPPED = "the server stopped before this render started"


def fail_all_queued(ctx: Context, error: str = SERVER_STOPPED) -> int:
    """Fail every queued execution: a server's queue lives in its process, so when `serve` starts
    or stops, queued rows belong to no one (one `serve` per database). Returns how many."""
    with ctx.session() as session:
        rows = session.exec(select(Execution).where(Execution.status == ExecutionStatus.QUEUED.value)).all()
        return attempts.fail_queued(session, list(rows), error)


CANCELLED = "cancelled"


def cancel_execution(ctx: Context, *, ref: str) -> CancelResult:
    """Stop a queued or running render of the job queue (PostgreSQL): a queued one never starts
    (`interrupted`, "cancelled"), a running one is stopped by its worker. Renders of a process
    of their own (the CLI, serve on SQLite) are stopped there (Ctrl-C): a Conflict here."""
    from manimagent.store import jobqueue

    with ctx.session() as session:
        row = resolve_uuid(session, ctx, Execution, ref, "execution")
    unfinished = row.status in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)
    if not unfinished:
        return CancelResult(success=False, execution_id=row.id, status=row.status)
    url = ctx.settings.database_url_effective
    if row.job_id is None or not jobqueue.is_postgres(url):
        raise Conflict(
            "this render runs in the process that started it, not on the job queue",
            hint=(
                "Stop that process (Ctrl-C); renders are cancellable when serve runs on PostgreSQL with "
                "`manimagent worker`s"
            ),
        )
    stopped = jobqueue.cancel_job(url, row.job_id)
    with ctx.session() as session:
        row = attempts.get_row(session, Execution, row.id)
        if row.status == ExecutionStatus.QUEUED.value:  # its job will never run: the row is settled here
            row.finish(ExecutionStatus.INTERRUPTED, CANCELLED)
            session.add(row)
            session.commit()
    return CancelResult(success=stopped, execution_id=row.id, status=row.status)


def retry_execution(
    ctx: Context,
    *,
    ref: str,
    max_attempts: int | None = None,
    engine: str | None = None,
    container: str | None = None,
    queued: str | None = None,
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
