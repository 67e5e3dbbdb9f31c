"""GET /api/agents/executions/{id}/events/: a render's typed events as Server-Sent Events.

A render under way streams its event log as it grows (render_started, render_progress,
render_failed, repair_started ...) and closes after `done`, whose data carries the job's result.
A finished execution without a log (rendered by the CLI, or by a process that died) replays its
stored summary: render_started, render_failed when it failed, and done.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from manimagent.context import Context
from manimagent.schemas import ExecutionDetail
from manimagent.server.deps import ContextDep
from manimagent.server.eventlog import log_path
from manimagent.server.openapi import Responses
from manimagent.store.models import ExecutionStatus

router = APIRouter(prefix="/api/agents/executions", tags=["executions"])
ExecutionId = Annotated[
    str,
    PathParam(min_length=4, max_length=36, description="Execution id, or a unique prefix of 4+ characters"),
]
POLL_SECONDS = 0.1
STATUS_SECONDS = 1.0  # how often the row is read while the log is quiet
HEARTBEAT_SECONDS = 15.0
SETTLE_SECONDS = 3.0  # after the row finished, how long a log may take to write its done
UNFINISHED = {ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value}
SSE_RESPONSES: Responses = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events, one JSON document per event",
    },
    404: {"description": "No such execution among yours"},
}


@router.get("/{execution_id}/events/", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def events(request: Request, ctx: ContextDep, execution_id: ExecutionId) -> StreamingResponse:
    """The render's progress as Server-Sent Events (`event: <kind>`, `data: <json>`), then `done`."""
    row = await asyncio.to_thread(_execution, ctx, execution_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(request, ctx, row), media_type="text/event-stream", headers=headers)


def _execution(ctx: Context, ref: str) -> ExecutionDetail:
    from manimagent.services.executions import get_execution

    return get_execution(ctx, ref=ref)


async def _stream(request: Request, ctx: Context, row: ExecutionDetail) -> AsyncIterator[bytes]:
    path = log_path(ctx.settings, row.id)
    if path is None and row.status not in UNFINISHED:
        for doc in stored_summary(row):
            yield sse(doc)
        return
    async for chunk in _follow(request, ctx, row, path):
        yield chunk


async def _follow(
    request: Request, ctx: Context, row: ExecutionDetail, path: Path | None
) -> AsyncIterator[bytes]:
    """Tail the log until its `done`; when the row finished and no `done` comes, the stored summary's."""
    offset, pending = 0, b""
    last_sent = last_status = time.monotonic()
    finished_at: float | None = None
    while not await request.is_disconnected():
        path = path or log_path(ctx.settings, row.id)
        chunk, offset = _read_from(path, offset)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in filter(None, lines):
            doc = json.loads(line)
            yield sse(doc)
            last_sent = time.monotonic()
            if doc.get("event") == "done":
                return
        now = time.monotonic()
        if now - last_status >= STATUS_SECONDS:
            last_status = now
            row = await asyncio.to_thread(_execution, ctx, row.id)
            if row.status not in UNFINISHED and finished_at is None:
                finished_at = now
        if finished_at is not None and now - finished_at >= SETTLE_SECONDS:
            yield sse(stored_summary(row)[-1])  # the job ended without writing its done (it died)
            return
        if now - last_sent >= HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(POLL_SECONDS)


def _read_from(path: Path | None, offset: int) -> tuple[bytes, int]:
    if path is None:
        return b"", offset
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return b"", offset
    return data, offset + len(data)


def stored_summary(row: ExecutionDetail) -> list[dict[str, Any]]:
    """What a finished execution's row says, as the events its render would have sent."""
    started = {
        "event": "render_started",
        "attempt": row.attempt_number,
        "max_attempts": row.attempt_number,
        "engine": row.engine,
        "scenes": row.scenes,
        "execution_id": row.id,
    }
    docs = [started]
    if not row.is_successful:
        docs.append(
            {"event": "render_failed", "attempt": row.attempt_number, "error": row.error or row.status}
        )
    docs.append(
        {
            "event": "done",
            "success": row.is_successful,
            "output_path": row.output_path,
            "error": row.error,
            "status": row.status,
            "replayed": True,
        }
    )
    return docs


def sse(doc: dict[str, Any]) -> bytes:
    """One Server-Sent Event: its kind as `event`, the document as `data`."""
    return f"event: {doc.get('event', 'message')}\ndata: {json.dumps(doc, default=str)}\n\n".encode()
