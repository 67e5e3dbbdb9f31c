"""Generate, execute and retry on the worker pool: wait for the result, or queue it (`"wait": false`).

The answer is the service's result with signed `output_url`s, or a QueuedResult for a 202.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import Request

from manimagent.server.bodies import ExecuteIn, GenerateIn, QueuedResult, RetryIn
from manimagent.server.jobs import Jobs, queue_render
from manimagent.server.media import with_output_url
from manimagent.services.context import Context
from manimagent.services.schemas import ExecuteResult, ScriptGenerateResult


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def _signed(request: Request, ctx: Context, doc):
    return with_output_url(ctx.settings, str(request.base_url), doc)


async def run_or_queue(request: Request, ctx: Context, fn: Callable[..., Any], *, wait: bool, script_id: str | None = None, **kwargs: Any):
    """The finished result (waiting), or a QueuedResult once the render is on its way."""
    if wait:
        return _signed(request, ctx, await _jobs(request).run(fn, ctx, **kwargs))
    execution_id, finished = await queue_render(_jobs(request), ctx, fn, **kwargs)
    if finished is not None:
        return _signed(request, ctx, finished)
    return QueuedResult(script_id=script_id, execution_id=execution_id)


async def execute(request: Request, ctx: Context, *, ref: str, body: ExecuteIn) -> ExecuteResult | QueuedResult:
    from manimagent.services.render import execute_script
    from manimagent.services.scripts import get_script

    script = get_script(ctx, ref=ref)  # an unknown id is a 404 even with "wait": false
    options = body.model_dump(exclude={"wait"}, exclude_none=True, mode="json")
    return await run_or_queue(request, ctx, execute_script, wait=body.wait, script_id=script.id, ref=script.id, **options)


async def retry(request: Request, ctx: Context, *, ref: str, body: RetryIn) -> ExecuteResult | QueuedResult:
    from manimagent.services.executions import get_execution, retry_execution

    execution = get_execution(ctx, ref=ref)
    options = body.model_dump(exclude={"wait"}, exclude_none=True, mode="json")
    return await run_or_queue(request, ctx, retry_execution, wait=body.wait, script_id=execution.script, ref=execution.id, **options)


async def generate(request: Request, ctx: Context, *, body: GenerateIn) -> ScriptGenerateResult | QueuedResult:
    """Generation itself always completes; with `"wait": false` only its render is queued."""
    from manimagent.services.generate import generate_script
    from manimagent.services.render import execute_script

    options = body.model_dump(include={"prompt", "provider", "model"}, exclude_none=True)
    render = body.model_dump(include={"engine", "container", "quality", "format", "max_attempts"}, exclude_none=True, mode="json")
    in_request = body.auto_execute and body.wait
    result = await _jobs(request).run(generate_script, ctx, auto_execute=in_request, **options, **(render if in_request else {}))
    if body.wait or not body.auto_execute or not result.success or not result.script_id:
        return _signed(request, ctx, result)
    queued = await run_or_queue(request, ctx, execute_script, wait=False, script_id=result.script_id, ref=result.script_id, **render)
    if isinstance(queued, QueuedResult):
        return queued
    return _signed(request, ctx, result.model_copy(update={"execution": queued}))
