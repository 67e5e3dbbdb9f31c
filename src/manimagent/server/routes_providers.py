"""/api/agents/providers/: the server's configured LLM providers (never a key)."""

from __future__ import annotations

from fastapi import APIRouter

from manimagent.server.deps import ContextDep
from manimagent.services.schemas import ProviderPublic

router = APIRouter(prefix="/api/agents/providers", tags=["providers"])


@router.get("/", response_model=list[ProviderPublic])
def list_providers(ctx: ContextDep) -> list[ProviderPublic]:
    """The configured providers by priority: names, types, models, where the key comes from."""
    from manimagent.services.providers import list_providers

    return list_providers(ctx)
