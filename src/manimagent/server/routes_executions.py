"""/api/agents/executions/: the caller's render attempts — list, show, poster, retry, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from manimagent.schemas import CancelResult, ExecuteResult, ExecutionDetail, ExecutionPublic
from manimagent.server import renders
from manimagent.server.bodies import QueuedResult, RetryIn
from manimagent.server.deps import ContextDep
from manimagent.server.lanes import in_store_lane
from manimagent.server.media import with_output_url
from manimagent.server.openapi import Responses
from manimagent.server.pages import PageDep, page_response
from manimagent.services.executions import EXECUTIONS

router = APIRouter(prefix="/api/agents/executions", tags=["executions"])
ExecutionId = Annotated[
    str, Path(min_length=4, max_length=36, description="Execution id, or a unique prefix of 4+ characters")
]
NOT_FOUND: Responses = {404: {"description": "No such execution among yours"}}


@router.get("/", response_model=list[ExecutionPublic])
async def list_executions(
    request: Request,
    ctx: ContextDep,
    page: PageDep,
    script: Annotated[
        str | None, Query(min_length=4, max_length=36, description="Only this script's executions")
    ] = None,
) -> Response:
    """Your executions, newest first, a page at a time (`Link` names the next page)."""
    from manimagent.services.executions import list_executions

    base = str(request.base_url)
    rows = await in_store_lane(
        request, list_executions, ctx, script_ref=script, limit=page.limit, offset=page.offset
    )
    return page_response(
        request, page, [with_output_url(ctx.settings, base, row) for row in rows], EXECUTIONS
    )


@router.get("/{execution_id}/", response_model=ExecutionDetail, responses=NOT_FOUND)
async def get_execution(request: Request, ctx: ContextDep, execution_id: ExecutionId) -> ExecutionDetail:
    """One of your executions with its log and code (poll this after `"wait": false`)."""
    from manimagent.services.executions import get_execution

    execution = await in_store_lane(request, get_execution, ctx, ref=execution_id)
    return with_output_url(ctx.settings, str(request.base_url), execution)


@router.get(
    "/{execution_id}/poster/",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {}}, "description": "The poster PNG"},
        404: {"description": "No such execution among yours, or it has no poster"},
    },
)
def get_poster(ctx: ContextDep, execution_id: ExecutionId) -> FileResponse:
    """The poster of one of your executions: a PNG of its video's last second (also at `poster_url`)."""
    from manimagent.errors import NotFound
    from manimagent.services.executions import get_execution

    row = get_execution(ctx, ref=execution_id)
    if row.poster_path is None:
        raise NotFound("this execution has no poster", hint="Only a successful render has one")
    return FileResponse(
        row.poster_path, media_type="image/png", headers={"Cache-Control": "private, max-age=300"}
    )


@router.post(
    "/{execution_id}/retry/",
    response_model=ExecuteResult,
    responses={202: {"model": QueuedResult, "description": 'Accepted ("wait": false)'}, **NOT_FOUND},
)
async def retry(
    request: Request,
    ctx: ContextDep,
    execution_id: ExecutionId,
    body: Annotated[RetryIn | None, Body()] = None,
):
    """Render the execution's script again with the same options (the body is optional)."""
    result = await renders.retry(request, ctx, ref=execution_id, body=body or RetryIn())
    return JSONResponse(
        result.model_dump(mode="json"), status_code=202 if isinstance(result, QueuedResult) else 200
    )


@router.post("/{execution_id}/cancel/", response_model=CancelResult, responses=NOT_FOUND)
def cancel(ctx: ContextDep, execution_id: ExecutionId) -> CancelResult:
    """Stop a queued or running render on the job queue (serve on PostgreSQL); 409 for a render
    that runs in the server's own process (SQLite)."""
    from manimagent.services.executions import cancel_execution

    return cancel_execution(ctx, ref=execution_id)
