"""The routes of omega-client (the seed system's web front end), on the same services as /api/agents/.

POST /api/generate-manim/, GET /api/scripts/ and /api/scripts/{id}/ answer omega's script object;
POST /api/auth/waiting-list/ joins the waiting list, which an administrator reads with GET.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from manimagent.context import Context
from manimagent.schemas import ExecutionPublic, MessageResult, ScriptPublic, WaitlistEntryPublic
from manimagent.server import renders
from manimagent.server.bodies import GenerateIn, OmegaGenerateIn
from manimagent.server.deps import AdminContext, AnonymousContext, ClientAddress, ContextDep, LimiterDep
from manimagent.server.lanes import in_store_lane
from manimagent.server.media import signed_url
from manimagent.server.openapi import Responses
from manimagent.server.pages import Page, PageDep, paged, sliced
from manimagent.services import auth
from manimagent.services.auth import WaitlistIn
from manimagent.store.models import ExecutionStatus, ScriptStatus

router = APIRouter(tags=["omega-client"])
ScriptId = Annotated[
    str, Path(min_length=4, max_length=36, description="Script id, or a unique prefix of 4+ characters")
]
NOT_FOUND: Responses = {404: {"description": "No such script among yours"}}
OmegaStatus = Literal["completed", "failed", "pending"]
OMEGA_STATUS: dict[str, OmegaStatus] = {
    ScriptStatus.SUCCESSFUL.value: "completed",
    ScriptStatus.FAILED.value: "failed",
}


class OmegaScript(BaseModel):
    """omega's script object: `script` is the code, `provider` the one that answered."""

    id: str
    prompt: str
    script: str
    provider: str | None = None
    output_path: str | None = None
    output_url: str | None = Field(
        default=None, description="Signed when the object is read; a <video src> without a token"
    )
    status: OmegaStatus
    error_message: str | None = None
    created_at: datetime
    updated_at: datetime


def omega_script(
    script: ScriptPublic, executions: list[ExecutionPublic], *, settings, base_url: str
) -> OmegaScript:
    """The omega object of a script and its executions (newest first)."""
    delivered = next(
        (
            run
            for run in executions
            if run.status in (ExecutionStatus.SUCCEEDED.value, ExecutionStatus.CACHED.value)
            and run.output_path
        ),
        None,
    )
    status = OMEGA_STATUS.get(script.status, "pending")
    error = script.error or (executions[0].error if executions and status == "failed" else None)
    return OmegaScript(
        id=script.id,
        prompt=script.prompt,
        script=script.content,
        provider=script.provider,
        output_path=delivered.output_path if delivered else None,
        output_url=signed_url(settings, base_url, delivered.output_path) if delivered else None,
        status=status,
        error_message=error,
        created_at=script.created_at,
        updated_at=script.updated_at,
    )


def _read_one(ctx: Context, ref: str, base_url: str) -> OmegaScript:
    from manimagent.services.executions import list_executions
    from manimagent.services.scripts import get_script

    script = get_script(ctx, ref=ref)
    return omega_script(
        script, list_executions(ctx, script_ref=script.id), settings=ctx.settings, base_url=base_url
    )


def _read_all(ctx: Context, base_url: str, page: Page) -> list[OmegaScript]:
    """One page of your scripts as omega objects, each with its own executions."""
    from manimagent.services.executions import list_executions
    from manimagent.services.scripts import get_script, list_scripts

    summaries = list_scripts(ctx, limit=page.limit, offset=page.offset)
    return [
        omega_script(
            get_script(ctx, ref=summary.id),
            list_executions(ctx, script_ref=summary.id),
            settings=ctx.settings,
            base_url=base_url,
        )
        for summary in summaries
    ]


def preferred_provider(ctx: Context, name: str | None) -> str | None:
    """The provider to ask for a preference `name` (omega-client always sends "gemini"): the active
    configured provider of that name, else the first of that type, that has a key (or needs none);
    else that type alone when its vendor key is set; else None, which means the normal selection."""
    from manimagent.providers import PROVIDER_TYPES
    from manimagent.services import llm
    from manimagent.services.providers import list_providers

    wanted = (name or "").strip()
    if not wanted:
        return None
    rows = list_providers(ctx)
    active = [row for row in rows if row.is_active]
    matching = [row for row in active if row.name == wanted] + [
        row for row in active if row.provider_type == wanted
    ]
    usable = next((row.name for row in matching if row.key_source != "none"), None)
    if usable is not None:
        return usable
    if wanted in PROVIDER_TYPES and not any(row.name == wanted for row in rows):
        return wanted if llm.key_source(llm.candidates(ctx, wanted)[0].config) != "none" else None
    return None


@router.post("/api/generate-manim/", response_model=OmegaScript)
async def generate_manim(request: Request, ctx: ContextDep, body: OmegaGenerateIn) -> OmegaScript:
    """Write a script from a prompt (and render it with `execute`); the whole script object."""
    provider = await asyncio.to_thread(preferred_provider, ctx, body.provider)
    written = await renders.generate(
        request, ctx, body=GenerateIn(prompt=body.prompt, provider=provider, auto_execute=body.execute)
    )
    assert written.script_id is not None  # generate raises when it writes no script
    return await asyncio.to_thread(_read_one, ctx, written.script_id, str(request.base_url))


@router.get("/api/scripts/", response_model=list[OmegaScript])
async def list_scripts(
    request: Request, response: Response, ctx: ContextDep, page: PageDep
) -> list[OmegaScript]:
    """Your scripts as omega objects, newest first, a page at a time (`Link` names the next page)."""
    rows = await in_store_lane(request, _read_all, ctx, str(request.base_url), page)
    return list(paged(request, response, page, rows))


@router.get("/api/scripts/{script_id}/", response_model=OmegaScript, responses=NOT_FOUND)
async def get_script(request: Request, ctx: ContextDep, script_id: ScriptId) -> OmegaScript:
    """One of your scripts as an omega object; `output_url` is signed now."""
    return await in_store_lane(request, _read_one, ctx, script_id, str(request.base_url))


@router.post("/api/auth/waiting-list/", status_code=201, response_model=MessageResult, tags=["auth"])
def join_waitlist(
    body: WaitlistIn, ctx: AnonymousContext, client: ClientAddress, limiter: LimiterDep
) -> MessageResult:
    """Ask for an account; the same answer when the address is on the list already."""
    return auth.join_waitlist(
        ctx, email=body.email, name=body.name, reason=body.reason, client=client, limiter=limiter
    )


@router.get("/api/auth/waiting-list/", response_model=list[WaitlistEntryPublic], tags=["auth"])
def list_waitlist(
    request: Request, response: Response, ctx: AdminContext, page: PageDep
) -> list[WaitlistEntryPublic]:
    """The waiting list, first come first (administrators only; `manimagent auth waitlist` on the server)."""
    return list(sliced(request, response, page, auth.list_waitlist(ctx)))
