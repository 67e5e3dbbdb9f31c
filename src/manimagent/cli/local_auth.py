"""`LocalAuth`: the `auth` commands without a server, on the local store, the login kept in the
keyring (or the 0600 secrets file) like a server's, under `local:<data folder>`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from manimagent.errors import Unauthorized

if TYPE_CHECKING:
    from manimagent.client import TokenStore
    from manimagent.context import Context
    from manimagent.schemas import MessageResult, TokenPair, UserPublic, WaitlistEntryPublic
    from manimagent.services.auth import AccountDeleted


class LocalAuth:
    """The account services bound to `ctx`, and the login this CLI keeps for the local store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def tokens(self) -> TokenStore:
        from manimagent.client import TokenStore

        return TokenStore(f"local:{self.ctx.settings.paths.data}")

    def register(
        self, *, email: str, password: str, first_name: str = "", last_name: str = ""
    ) -> MessageResult:
        from manimagent.services import auth

        return auth.register(
            self.ctx, email=email, password=password, first_name=first_name, last_name=last_name
        )

    def verify_email(self, *, token: str) -> MessageResult:
        from manimagent.services import auth

        return auth.verify_email(self.ctx, token=token)

    def resend_verification(self, *, email: str) -> MessageResult:
        from manimagent.services import auth

        return auth.resend_verification(self.ctx, email=email)

    def login(self, *, email: str, password: str) -> TokenPair:
        from manimagent.services import auth

        pair = auth.login(self.ctx, email=email, password=password)
        self.tokens.save(pair)
        return pair

    def get_profile(self) -> UserPublic:
        """The account of the kept login, refreshing the pair once when its access token is refused."""
        from manimagent.services import auth

        pair = self.tokens.load()
        if pair is None:
            raise Unauthorized("not logged in", hint="Run `manimagent auth login --email E`")
        try:
            return auth.authenticate(self.ctx, access=pair.access)
        except Unauthorized:
            pair = auth.refresh_tokens(self.ctx, refresh=pair.refresh)
            self.tokens.save(pair)
            return auth.authenticate(self.ctx, access=pair.access)

    def logout(self) -> MessageResult:
        from manimagent.schemas import MessageResult
        from manimagent.services import auth

        store = self.tokens
        pair = store.load()
        if pair is not None:
            try:
                auth.logout(self.ctx, refresh=pair.refresh)
            except Unauthorized:
                pass
        store.clear()
        return MessageResult(message="Logged out.")

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]:
        from manimagent.services import auth

        return auth.list_users(self.ctx, limit=limit, offset=offset)

    def delete_user(self, *, email: str, reassign_to: str | None = None) -> AccountDeleted:
        from manimagent.services import auth

        return auth.delete_user(self.ctx, email=email, reassign_to=reassign_to)

    def promote(self, *, email: str) -> UserPublic:
        from manimagent.services import auth

        return auth.promote(self.ctx, email=email)

    def list_waitlist(self) -> list[WaitlistEntryPublic]:
        from manimagent.services import auth

        return auth.list_waitlist(self.ctx)
