"""`Annotated` dependencies: the settings, the caller's Context, the Bearer user, admins, a session.

The ones that only read the request are `async`: a sync dependency costs a trip to the thread pool.
The token check runs in the store lane (server/lanes.py), like the hot reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from manimagent.context import Context
from manimagent.errors import Forbidden, Unauthorized
from manimagent.schemas import UserPublic
from manimagent.server.lanes import in_store_lane
from manimagent.services import auth
from manimagent.services.auth import RateLimiter
from manimagent.settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="An access token from POST /api/auth/login/")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def anonymous_context(settings: SettingsDep) -> Context:
    """The context of endpoints without a user (register, login): sees no one's rows."""
    return Context(settings=settings, user_id=0, is_admin=False)


AnonymousContext = Annotated[Context, Depends(anonymous_context)]


async def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


async def current_user(request: Request, ctx: AnonymousContext, credentials: BearerDep) -> UserPublic:
    if credentials is None:
        raise Unauthorized(
            "Authentication required.",
            hint="Send `Authorization: Bearer <access token>` from POST /api/auth/login/",
        )
    return await in_store_lane(request, auth.authenticate, ctx, access=credentials.credentials)


CurrentUser = Annotated[UserPublic, Depends(current_user)]


async def optional_user(request: Request, ctx: AnonymousContext, credentials: BearerDep) -> UserPublic | None:
    """The Bearer user, or None for a missing or bad token (media answers 404 either way)."""
    if credentials is None:
        return None
    try:
        return await in_store_lane(request, auth.authenticate, ctx, access=credentials.credentials)
    except Unauthorized:
        return None


OptionalUser = Annotated[UserPublic | None, Depends(optional_user)]


async def admin_user(user: CurrentUser) -> UserPublic:
    if not user.is_admin:
        raise Forbidden(
            "This action needs an administrator.",
            hint="An admin runs `manimagent auth promote EMAIL` on the server",
        )
    return user


AdminUser = Annotated[UserPublic, Depends(admin_user)]


async def user_context(settings: SettingsDep, user: CurrentUser) -> Context:
    """The context of a signed-in request: services filter every row by this user."""
    return Context(settings=settings, user_id=user.id, is_admin=user.is_admin)


ContextDep = Annotated[Context, Depends(user_context)]


async def admin_context(settings: SettingsDep, user: AdminUser) -> Context:
    return Context(settings=settings, user_id=user.id, is_admin=True)


AdminContext = Annotated[Context, Depends(admin_context)]


def get_session(ctx: AnonymousContext) -> Iterator[Session]:
    with ctx.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
