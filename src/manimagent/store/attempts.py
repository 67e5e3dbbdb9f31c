"""Persisting the render loop's rows: the pipeline decides, these functions write (one session per
attempt, passed in). Every status goes through the models' transition checks (store/transitions.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, func, select

from manimagent.errors import NotFound
from manimagent.store.models import Execution, ExecutionStatus, Script, ScriptStatus
from manimagent.store.transitions import is_unfinished

Row = TypeVar("Row", Script, Execution)
INTERRUPTED = "interrupted"  # the error of an interrupted attempt and its script


def get_row(session: Session, model: type[Row], row_id: str) -> Row:
    """The row, or NotFound when it was deleted meanwhile (e.g. `scripts rm` during a render)."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} was deleted while it rendered")
    return row


def _save(session: Session, *rows: SQLModel) -> None:
    for row in rows:
        session.add(row)
    session.commit()


def store_new(session: Session, script: Script, execution: Execution) -> None:
    """A new Script and its first Execution, written in one transaction: a crash or a full disk
    never leaves a script `executing` without its render."""
    script.set_status(ScriptStatus.EXECUTING)
    execution.start()
    session.add(script)
    session.flush()  # the script first (no relationship tells the session so), in the same transaction
    _save(session, execution)


def next_attempt_number(session: Session, script_id: str, queued: str | None = None) -> int:
    query = select(func.count()).select_from(Execution).where(Execution.script_id == script_id)
    if queued:
        query = query.where(Execution.id != queued)
    return int(session.exec(query).one()) + 1


def start_execution(
    session: Session, script_id: str, execution_id: str, columns: dict[str, Any], queued: str | None
) -> Execution:
    """The attempt's running Execution row (`queued`: the queued row it takes over, whose id is
    `execution_id`) and its script `executing` again."""
    execution = (
        get_row(session, Execution, queued) if queued else Execution(id=execution_id, script_id=script_id)
    )
    for name, value in columns.items():
        setattr(execution, name, value)
    execution.start()
    script = get_row(session, Script, script_id)
    script.set_status(ScriptStatus.EXECUTING)
    _save(session, execution, script)
    return execution


def finish_execution(
    session: Session, execution_id: str, status: ExecutionStatus, error: str | None, **columns: Any
) -> Execution:
    """The attempt ended with `status`; `columns`: what else its row now says (log, outputs, ...)."""
    row = get_row(session, Execution, execution_id)
    row.finish(status, error)
    for name, value in columns.items():
        setattr(row, name, value)
    _save(session, row)
    return row


def succeed(session: Session, script_id: str, execution_id: str, status: ExecutionStatus, **row: Any) -> None:
    """The attempt rendered: its Execution `status` (succeeded or cached) with the `row` columns,
    and its Script successful (the code that rendered is given by the caller as `content` etc.)."""
    script_columns = {name: row.pop(name) for name in ("content", "scenes", "scene_class")}
    execution = get_row(session, Execution, execution_id)
    execution.finish(status)
    execution.is_successful = True
    for name, value in row.items():
        setattr(execution, name, value)
    script = get_row(session, Script, script_id)
    script_columns["scenes"] = script_columns["scenes"] or script.scenes  # code no longer parsed: as it was
    for name, value in script_columns.items():
        setattr(script, name, value)
    script.set_status(ScriptStatus.SUCCESSFUL)
    script.error = None
    _save(session, execution, script)


def record_modified(session: Session, execution_id: str, code: str) -> None:
    """The failed attempt's `modified_script` is the repaired code the next attempt renders."""
    row = get_row(session, Execution, execution_id)
    row.modified_script = code
    _save(session, row)


def set_script_status(
    session: Session, script_id: str, status: ScriptStatus, error: str | None = None
) -> None:
    script = get_row(session, Script, script_id)
    script.set_status(status, error)
    _save(session, script)


def settle_interrupted(session: Session, script_id: str | None, execution_id: str | None) -> str | None:
    """An interrupted attempt's rows, whichever were written: its Execution still `running` (or
    `queued`) becomes `interrupted` and its Script, still `executing`, `failed`. Returns the
    Execution's id when that row exists."""
    row = session.get(Execution, execution_id) if execution_id else None
    if row is not None and is_unfinished(row.status):
        row.finish(ExecutionStatus.INTERRUPTED, INTERRUPTED)
        session.add(row)
    script = session.get(Script, script_id) if script_id else None
    if script is not None and script.status == ScriptStatus.EXECUTING.value:
        script.set_status(ScriptStatus.FAILED, INTERRUPTED)
        session.add(script)
    session.commit()
    return row.id if row is not None else None


def fail_queued(session: Session, rows: list[Execution], error: str) -> int:
    """Those of `rows` still queued fail with `error` (their render never started). Returns how many."""
    queued = [row for row in rows if row.status == ExecutionStatus.QUEUED.value]
    for row in queued:
        row.finish(ExecutionStatus.FAILED, error)
        session.add(row)
    if queued:
        session.commit()
    return len(queued)
