"""/api/agents/containers/: the server's render containers; starting and stopping is for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from manimagent.schemas import ContainerPublic, ContainerStatus
from manimagent.server.deps import AdminContext, ContextDep
from manimagent.server.openapi import Responses
from manimagent.server.pages import PageDep, sliced

router = APIRouter(prefix="/api/agents/containers", tags=["containers"])
ContainerRef = Annotated[str, Path(min_length=1, max_length=200, description="Container name or numeric id")]
NOT_FOUND: Responses = {404: {"description": "No such container"}}
ADMIN_ONLY: Responses = {403: {"description": "Only administrators start and stop containers"}, **NOT_FOUND}


@router.get("/", response_model=list[ContainerPublic])
def list_containers(
    request: Request, response: Response, ctx: ContextDep, page: PageDep
) -> list[ContainerPublic]:
    """The configured containers and whether they run."""
    from manimagent.services.containers import list_containers

    return sliced(request, response, page, list_containers(ctx))


@router.post("/{container_id}/start/", response_model=ContainerStatus, responses=ADMIN_ONLY)
def start(ctx: AdminContext, container_id: ContainerRef) -> ContainerStatus:
    """Start the container and keep it warm for renders (admins)."""
    from manimagent.services.containers import start_container

    return start_container(ctx, ref=container_id)


@router.post("/{container_id}/stop/", response_model=ContainerStatus, responses=ADMIN_ONLY)
def stop(ctx: AdminContext, container_id: ContainerRef) -> ContainerStatus:
    """Stop the container (admins)."""
    from manimagent.services.containers import stop_container

    return stop_container(ctx, ref=container_id)


@router.post("/{container_id}/check_status/", response_model=ContainerStatus, responses=NOT_FOUND)
def check_status(ctx: ContextDep, container_id: ContainerRef) -> ContainerStatus:
    """Ask Docker whether the container runs, and record the answer."""
    from manimagent.services.containers import check_status

    return check_status(ctx, ref=container_id)
