"""/api/agents/providers/: the server's configured LLM providers (never a key)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from manimagent.schemas import ProviderPublic
from manimagent.server.deps import ContextDep
from manimagent.server.pages import PageDep, sliced

router = APIRouter(prefix="/api/agents/providers", tags=["providers"])


@router.get("/", response_model=list[ProviderPublic])
def list_providers(
    request: Request, response: Response, ctx: ContextDep, page: PageDep
) -> list[ProviderPublic]:
    """The configured providers by priority: names, types, models, where the key comes from."""
    from manimagent.services.providers import list_providers

    return sliced(request, response, page, list_providers(ctx))
