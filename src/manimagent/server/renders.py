"""Generate, execute and retry on the render threads: wait for the result, or queue it (`"wait": false`).

The answer is the service's result with signed `output_url`s, or a QueuedResult for a 202.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import Request

from manimagent.context import Context
from manimagent.errors import Conflict, ManimagentError
from manimagent.events import Event, RenderStarted
from manimagent.render.base import RENDER_CHOICES
from manimagent.schemas import ExecuteResult, ScriptGenerateResult
from manimagent.server.bodies import ExecuteIn, GenerateIn, QueuedResult, RefineIn, RetryIn
from manimagent.server.eventlog import EventLog
from manimagent.server.media import with_output_url
from manimagent.server.render_threads import RenderThreads
from manimagent.services.executions import queue_execution
from manimagent.store.models import Execution


def _threads(request: Request) -> RenderThreads:
    return request.app.state.render_threads


def _signed(request: Request, ctx: Context, doc):
    return with_output_url(ctx.settings, str(request.base_url), doc)


def _marked(threads: RenderThreads, script_id: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` holding `script_id` busy from the moment it is queued until it returns."""
    threads.hold(script_id)

    def job(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            threads.release(script_id)

    return job


def _marking_renders(
    threads: RenderThreads, ctx: Context, fn: Callable[..., Any]
) -> tuple[Context, Callable[..., Any]]:
    """For jobs that create their script (generate): hold it busy from its first render on."""
    held: list[str] = []
    downstream = ctx.events

    def sink(event: Event) -> None:
        if isinstance(event, RenderStarted) and not held:
            with ctx.session() as session:
                row = session.get(Execution, event.execution_id)
            if row is not None:
                threads.hold(row.script_id)
                held.append(row.script_id)
        downstream(event)

    def job(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            for script_id in held:
                threads.release(script_id)

    return replace(ctx, events=sink), job


def _recorded(
    request: Request, ctx: Context, fn: Callable[..., Any], first_execution: str | None
) -> tuple[Context, Callable[..., Any]]:
    """`fn` with its events written to the event log (GET .../executions/{id}/events/ streams it),
    ending with `done` and the job's signed result."""
    log = EventLog(ctx.settings, ctx.events, first_execution)

    def job(job_ctx: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(job_ctx, *args, **kwargs)
        except ManimagentError as exc:
            log.finish(None, exc.one_line())
            raise
        except BaseException as exc:
            log.finish(None, f"the render stopped: {type(exc).__name__}")
            raise
        log.finish(_signed(request, ctx, result).model_dump(mode="json"))
        return result

    return replace(ctx, events=log), job


async def run_or_queue(
    request: Request, ctx: Context, fn: Callable[..., Any], *, wait: bool, script_id: str, **kwargs: Any
):
    """The finished result (waiting), or a QueuedResult once the render is on its way."""
    if request.app.state.queue is not None:
        return await _on_the_queue(request, ctx, fn, wait=wait, script_id=script_id, **kwargs)
    threads = _threads(request)
    if wait:
        job_ctx, job = _recorded(request, ctx, fn, None)
        return _signed(request, ctx, await threads.run(_marked(threads, script_id, job), job_ctx, **kwargs))
    execution_id = await asyncio.to_thread(queue_execution, ctx, script_ref=script_id)  # pollable at once
    job_ctx, job = _recorded(request, ctx, fn, execution_id)
    threads.start(_marked(threads, script_id, job), job_ctx, queued=execution_id, **kwargs)
    return QueuedResult(script_id=script_id, execution_id=execution_id)


async def _on_the_queue(
    request: Request, ctx: Context, fn: Callable[..., Any], *, wait: bool, script_id: str, **kwargs: Any
):
    """PostgreSQL: the render is a job for `manimagent worker`s (server/queue.py); waiting reads
    the result document the worker leaves on the row."""
    from manimagent.server.queue import NOT_TAKEN, defer_render, wait_for_result

    execution_id = await asyncio.to_thread(queue_execution, ctx, script_ref=script_id)
    action = "retry" if fn.__name__ == "retry_execution" else "execute"
    kwargs["engine"] = kwargs.get("engine") or await asyncio.to_thread(
        _engine_of, ctx, action, kwargs["ref"]
    )  # names the queue
    await defer_render(
        request.app.state.queue,
        ctx.settings,
        execution_id=execution_id,
        action=action,
        options=kwargs,
        user_id=ctx.user_id,
        is_admin=ctx.is_admin,
    )
    if not wait:
        return QueuedResult(script_id=script_id, execution_id=execution_id)
    doc = await wait_for_result(ctx.settings, execution_id) or {
        "success": False,
        "status": "failed",
        "error": "the render job ended without a result",
    }
    if doc is NOT_TAKEN:
        message = (
            "No worker has taken the render yet (start `manimagent worker`); it stays queued."
            " Poll GET /api/agents/executions/{execution_id}/."
        )
        return QueuedResult(script_id=script_id, execution_id=execution_id, message=message)
    if "http_status" in doc and not doc.get("success"):
        raise _JobError(doc["error"], doc["http_status"])
    return _signed(
        request,
        ctx,
        ExecuteResult.model_validate({"script_id": script_id, "execution_id": execution_id, **doc}),
    )


def _engine_of(ctx: Context, action: str, ref: str) -> str:
    """The engine a render will use when the request names none: a retry's row's, else the
    server's default."""
    if action == "retry":
        from manimagent.services.executions import get_execution

        return get_execution(ctx, ref=ref).engine
    return ctx.settings.engine or "local"


class _JobError(ManimagentError):
    """A queued render that a worker could not start (bad option, Docker unreachable): its status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message.removeprefix("Error: "))
        self.http_status = status


async def execute(
    request: Request, ctx: Context, *, ref: str, body: ExecuteIn
) -> ExecuteResult | QueuedResult:
    from manimagent.services.render import execute_script
    from manimagent.services.scripts import get_script

    script = await asyncio.to_thread(
        get_script, ctx, ref=ref
    )  # an unknown id is a 404 even with "wait": false
    options = body.model_dump(exclude={"wait"}, exclude_none=True, mode="json")
    return await run_or_queue(
        request, ctx, execute_script, wait=body.wait, script_id=script.id, ref=script.id, **options
    )


async def retry(request: Request, ctx: Context, *, ref: str, body: RetryIn) -> ExecuteResult | QueuedResult:
    from manimagent.services.executions import get_execution, retry_execution

    execution = await asyncio.to_thread(get_execution, ctx, ref=ref)
    options = body.model_dump(exclude={"wait"}, exclude_none=True, mode="json")
    return await run_or_queue(
        request, ctx, retry_execution, wait=body.wait, script_id=execution.script, ref=execution.id, **options
    )


async def generate(
    request: Request, ctx: Context, *, body: GenerateIn
) -> ScriptGenerateResult | QueuedResult:
    """A new script from a prompt (and its render)."""
    from manimagent.services.generate import generate_script

    return await _write_script(request, ctx, generate_script, body, prompt=body.prompt)


async def refine(
    request: Request, ctx: Context, *, ref: str, body: RefineIn
) -> ScriptGenerateResult | QueuedResult:
    """A new script from one of yours and an instruction (and its render)."""
    from manimagent.services.generate import refine_script
    from manimagent.services.scripts import get_script

    script = await asyncio.to_thread(get_script, ctx, ref=ref)
    return await _write_script(request, ctx, refine_script, body, ref=script.id, instruction=body.instruction)


async def _write_script(
    request: Request,
    ctx: Context,
    write: Callable[..., ScriptGenerateResult],
    body: GenerateIn | RefineIn,
    **what: Any,
):
    """Writing the script always completes; with `"wait": false` only its render is queued."""
    from manimagent.services.render import execute_script

    chosen = body.model_dump(include={"provider", "model"}, exclude_none=True)
    render = body.model_dump(
        include=set(RENDER_CHOICES),
        exclude_none=True,
        mode="json",
    )
    on_queue = (
        request.app.state.queue is not None
    )  # PostgreSQL: the render is a worker's job, waited for or not
    in_request = body.auto_execute and body.wait and not on_queue
    job_ctx, job = _marking_renders(_threads(request), ctx, write)
    job_ctx, job = _recorded(request, job_ctx, job, None)
    result = await _threads(request).run(
        job, job_ctx, auto_execute=in_request, **what, **chosen, **(render if in_request else {})
    )
    if (body.wait and not on_queue) or not body.auto_execute or not result.success or not result.script_id:
        return _signed(request, ctx, result)
    queued = await run_or_queue(
        request,
        ctx,
        execute_script,
        wait=body.wait and on_queue,
        script_id=result.script_id,
        ref=result.script_id,
        **render,
    )
    if isinstance(queued, QueuedResult):
        return queued
    return _signed(request, ctx, result.model_copy(update={"execution": queued}))


async def remove(request: Request, ctx: Context, *, ref: str) -> None:
    """Delete a script, unless this server is rendering it right now (409)."""
    from manimagent.services.scripts import get_script, remove_script

    script = await asyncio.to_thread(get_script, ctx, ref=ref)
    if _threads(request).is_rendering(script.id):
        raise Conflict("the script is being rendered", hint="Delete it when the render has finished")
    await asyncio.to_thread(remove_script, ctx, ref=script.id)
