"""/api/agents/scripts/: the caller's scripts — list, show, generate, execute, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from manimagent.schemas import ExecuteResult, ScriptGenerateResult, ScriptPublic, ScriptSummary
from manimagent.server import renders
from manimagent.server.bodies import ExecuteIn, GenerateIn, ImportIn, QueuedResult, RefineIn
from manimagent.server.deps import ContextDep
from manimagent.server.lanes import in_store_lane
from manimagent.server.openapi import Responses
from manimagent.server.pages import PageDep, page_response
from manimagent.services.scripts import SUMMARIES
from manimagent.store.models import ScriptStatus

router = APIRouter(prefix="/api/agents/scripts", tags=["scripts"])
ScriptId = Annotated[
    str, Path(min_length=4, max_length=36, description="Script id, or a unique prefix of 4+ characters")
]
QUEUED: Responses = {
    202: {"model": QueuedResult, "description": 'Accepted ("wait": false); poll the execution'}
}
NOT_FOUND: Responses = {404: {"description": "No such script among yours"}}


def _answer(result, status_code: int):
    if isinstance(result, QueuedResult):
        return JSONResponse(result.model_dump(mode="json"), status_code=202)
    return JSONResponse(result.model_dump(mode="json"), status_code=status_code)


@router.get("/", response_model=list[ScriptSummary])
async def list_scripts(
    request: Request,
    ctx: ContextDep,
    page: PageDep,
    status: Annotated[ScriptStatus | None, Query(description="Only scripts with this status")] = None,
) -> Response:
    """Your scripts, newest first, a page at a time (`Link` names the next page)."""
    from manimagent.services.scripts import list_scripts

    rows = await in_store_lane(
        request,
        list_scripts,
        ctx,
        status=status.value if status else None,
        limit=page.limit,
        offset=page.offset,
    )
    return page_response(request, page, rows, SUMMARIES)


@router.post("/generate/", status_code=201, response_model=ScriptGenerateResult, responses=QUEUED)
async def generate(request: Request, ctx: ContextDep, body: GenerateIn):
    """Ask the LLM for a script (and render it with `auto_execute`)."""
    return _answer(await renders.generate(request, ctx, body=body), 201)


@router.post("/import/", status_code=201, response_model=ScriptPublic)
def import_script(ctx: ContextDep, body: ImportIn) -> ScriptPublic:
    """Store a Manim script you wrote, without rendering it."""
    from manimagent.services.scripts import import_script

    return import_script(ctx, code=body.code, prompt=body.prompt)


@router.get("/{script_id}/", response_model=ScriptPublic, responses=NOT_FOUND)
async def get_script(request: Request, ctx: ContextDep, script_id: ScriptId) -> ScriptPublic:
    """One of your scripts, with its code and executions."""
    from manimagent.services.scripts import get_script

    return await in_store_lane(request, get_script, ctx, ref=script_id)


@router.post("/{script_id}/execute/", response_model=ExecuteResult, responses={**QUEUED, **NOT_FOUND})
async def execute(
    request: Request, ctx: ContextDep, script_id: ScriptId, body: Annotated[ExecuteIn | None, Body()] = None
):
    """Render the script, repairing it up to `max_attempts` renders (the body is optional)."""
    return _answer(await renders.execute(request, ctx, ref=script_id, body=body or ExecuteIn()), 200)


@router.post(
    "/{script_id}/refine/",
    status_code=201,
    response_model=ScriptGenerateResult,
    responses={**QUEUED, **NOT_FOUND},
)
async def refine(request: Request, ctx: ContextDep, script_id: ScriptId, body: RefineIn):
    """A new script (its parent: this one) from the old code and an instruction."""
    return _answer(await renders.refine(request, ctx, ref=script_id, body=body), 201)


@router.delete(
    "/{script_id}/",
    status_code=204,
    responses={**NOT_FOUND, 409: {"description": "The script is being rendered"}},
)
async def remove(request: Request, ctx: ContextDep, script_id: ScriptId) -> Response:
    """Delete the script, its executions and their media (not while it renders)."""
    await renders.remove(request, ctx, ref=script_id)
    return Response(status_code=204)
