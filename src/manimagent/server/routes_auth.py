"""/api/auth/: register, verify email, resend, login, token refresh, logout, profile; accounts for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from manimagent.errors import Conflict
from manimagent.schemas import LoginResult, MessageResult, TokenPair, UserPublic
from manimagent.server.deps import AdminContext, AnonymousContext, ClientAddress, ContextDep, LimiterDep
from manimagent.server.pages import PageDep, paged
from manimagent.services import auth
from manimagent.services.auth import (
    AccountDeleted,
    LoginIn,
    RefreshIn,
    RegisterIn,
    ResendVerificationIn,
    VerifyEmailIn,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/register/", status_code=201, response_model=MessageResult)
def register(
    body: RegisterIn, ctx: AnonymousContext, client: ClientAddress, limiter: LimiterDep, request: Request
) -> MessageResult:
    """Create an account; the verification token is mailed (or written to the outbox)."""
    return auth.register(
        ctx,
        email=body.email,
        password=body.password,
        password2=body.password2,
        first_name=body.first_name,
        last_name=body.last_name,
        client=client,
        limiter=limiter,
        server_url=str(request.base_url),
    )


@router.post("/verify-email/", response_model=MessageResult)
def verify_email(body: VerifyEmailIn, ctx: AnonymousContext) -> MessageResult:
    """Spend a verification token; the account can log in afterwards."""
    return auth.verify_email(ctx, token=body.token)


@router.post("/resend-verification/", response_model=MessageResult)
def resend_verification(
    body: ResendVerificationIn,
    ctx: AnonymousContext,
    client: ClientAddress,
    limiter: LimiterDep,
    request: Request,
) -> MessageResult:
    """Mail a new verification token to an unverified account (the same answer for every address)."""
    return auth.resend_verification(
        ctx, email=body.email, client=client, limiter=limiter, server_url=str(request.base_url)
    )


@router.post("/login/", response_model=LoginResult)
def login(body: LoginIn, ctx: AnonymousContext, client: ClientAddress, limiter: LimiterDep) -> LoginResult:
    """An access token (`server.access_token_minutes`, default 15) and a refresh token (7 days) for a
    verified account, and the account (`user`)."""
    return auth.login(ctx, email=body.email, password=body.password, client=client, limiter=limiter)


@router.post("/token/refresh/", response_model=TokenPair)
def refresh(body: RefreshIn, ctx: AnonymousContext) -> TokenPair:
    """A new pair; the refresh token sent stops working, and sending it again signs out its login."""
    return auth.refresh_tokens(ctx, refresh=body.refresh)


@router.post("/logout/", response_model=MessageResult)
def logout(body: RefreshIn, ctx: AnonymousContext) -> MessageResult:
    """Revoke the login a refresh token belongs to (its access tokens stop working too)."""
    return auth.logout(ctx, refresh=body.refresh)


@router.get("/profile/", response_model=UserPublic)
def profile(ctx: ContextDep) -> UserPublic:
    """The signed-in account."""
    return auth.get_profile(ctx)


# ---- accounts (administrators) ----------------------------------------------------------------


@router.get("/users/", response_model=list[UserPublic])
def list_users(request: Request, response: Response, ctx: AdminContext, page: PageDep) -> list[UserPublic]:
    """Every account, oldest first, a page at a time (administrators; `manimagent auth users`)."""
    return list(paged(request, response, page, auth.list_users(ctx, limit=page.limit, offset=page.offset)))


@router.delete(
    "/users/{email}/",
    response_model=AccountDeleted,
    responses={
        404: {"description": "No such account"},
        409: {"description": "One of its scripts is being rendered"},
    },
)
def delete_user(
    request: Request,
    ctx: AdminContext,
    email: Annotated[
        str, PathParam(max_length=auth.MAX_EMAIL_LENGTH, description="The account's email address")
    ],
    reassign_to: Annotated[
        str | None,
        Query(
            max_length=auth.MAX_EMAIL_LENGTH,
            description="Give its scripts, executions and media to this account instead of removing them",
        ),
    ] = None,
) -> AccountDeleted:
    """Delete an account: its tokens stop working, its id is never reused, and its scripts,
    executions and media are removed (or given to `reassign_to`). Administrators only."""
    threads = request.app.state.render_threads

    def busy(script_ids: list[str]) -> None:
        if any(threads.is_rendering(script_id) for script_id in script_ids):
            raise Conflict(
                "one of the account's scripts is being rendered",
                hint="Delete the account when the render has finished",
            )

    return auth.delete_user(ctx, email=email, reassign_to=reassign_to, busy=busy)
