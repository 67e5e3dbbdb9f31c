"""Scripts: import, list, show, export, remove."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from manimagent.context import Context
from manimagent.errors import BadInput
from manimagent.schemas import ScriptPublic, ScriptSummary
from manimagent.scriptcheck.check import check_script
from manimagent.scriptcheck.source import decode_script, read_script_file, write_script_file
from manimagent.services.executions import page_bounds, sweep_for_local_reads
from manimagent.services.ids import resolve_uuid
from manimagent.store.models import Execution, Script, ScriptStatus, utcnow
from manimagent.store.owned import owned


def script_summary(script: Script) -> ScriptSummary:
    return ScriptSummary.model_validate({**script.model_dump(), "parent": script.parent_id})


def script_public(session: Session, script: Script) -> ScriptPublic:
    executions = session.exec(
        select(Execution.id).where(Execution.script_id == script.id).order_by(col(Execution.created_at))
    ).all()
    return ScriptPublic.model_validate(
        {**script.model_dump(), "parent": script.parent_id, "executions": list(executions)}
    )


def create_script_row(ctx: Context, *, code: str, prompt: str, source: str, label: str) -> Script:
    """Check `code` is a Manim script and store it as a new Script."""
    report = check_script(code, ctx.manim_names(), label)
    script = Script(
        owner_id=ctx.user_id,
        prompt=prompt,
        content=code,
        scenes=report.scenes,
        scene_class=report.scenes[0],
        source=source,
    )  # pending
    with ctx.session() as session:
        session.add(script)
        session.commit()
    return script


def import_script(
    ctx: Context, *, path: str | None = None, code: str | None = None, prompt: str | None = None
) -> ScriptPublic:
    """Store a Manim file (or text) as a script without rendering it."""
    if code is None:
        if path is None:
            raise BadInput("give a file to import")
        code = read_script_file(path)
    else:
        code = decode_script(code.encode("utf-8"), "the script")
    label = path or "the script"
    default_prompt = f"imported from {Path(path).name}" if path else "imported"
    script = create_script_row(
        ctx, code=code, prompt=prompt or default_prompt, source="imported", label=label
    )
    return get_script(ctx, ref=script.id)


def list_scripts(
    ctx: Context, *, status: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ScriptSummary]:
    """The caller's scripts, newest first: `limit` of them (None: all) after skipping `offset`."""
    if status is not None and status not in {item.value for item in ScriptStatus}:
        raise BadInput(
            f"unknown status {status!r}", hint=f"Use one of: {', '.join(item.value for item in ScriptStatus)}"
        )
    limit, offset = page_bounds(limit, offset)
    query = (
        sa_select(*SUMMARY_COLUMNS)
        .order_by(col(Script.created_at).desc(), col(Script.id).desc())
        .offset(offset)
        .limit(limit)
    )
    if status:
        query = query.where(col(Script.status) == status)
    query = owned(query, ctx, Script)
    sweep_for_local_reads(ctx)
    with ctx.session() as session:
        return SUMMARIES.validate_python([dict(row._mapping) for row in session.execute(query).all()])


SUMMARIES = TypeAdapter(list[ScriptSummary])
# what a list shows, read as plain rows (no ORM objects, no code): a page costs a millisecond or two
SUMMARY_COLUMNS: tuple[Any, ...] = (
    Script.id,
    Script.prompt,
    Script.scene_class,
    Script.scenes,
    Script.status,
    Script.source,
    Script.provider,
    Script.model,
    col(Script.parent_id).label("parent"),
    Script.created_at,
    Script.updated_at,
)


def get_script(ctx: Context, *, ref: str) -> ScriptPublic:
    sweep_for_local_reads(ctx)
    with ctx.session() as session:
        return script_public(session, resolve_uuid(session, ctx, Script, ref, "script"))


def export_script(ctx: Context, *, ref: str, output: str | None = None) -> str:
    """The script's code; written to `output` when given (returns the path then)."""
    script = get_script(ctx, ref=ref)
    if output is None:
        return script.content
    return write_script_file(output, script.content, f"{script.scene_class or 'scene'}.py")


def remove_script(ctx: Context, *, ref: str) -> str:
    """Delete a script, its executions and their media. Refinements keep living (their parent is cleared)."""
    with ctx.session() as session:
        script = resolve_uuid(session, ctx, Script, ref, "script")
        for execution in session.exec(select(Execution).where(Execution.script_id == script.id)).all():
            session.delete(execution)
        for child in session.exec(select(Script).where(Script.parent_id == script.id)).all():
            child.parent_id = None
            child.updated_at = utcnow()
            session.add(child)
        session.delete(script)
        session.commit()
    shutil.rmtree(ctx.settings.paths.media / script.id, ignore_errors=True)
    return script.id
