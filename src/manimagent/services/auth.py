"""Accounts and tokens: register, verify email, login (throttled), JWT access/refresh with rotation,
profile, promote, list and delete accounts, and the waiting list.

Refresh tokens rotate: each use issues a new pair in the same family and retires the old token;
presenting a retired token again revokes the whole family (and the access tokens issued from it),
unless `server.refresh_reuse_grace_seconds` allows it again for a moment (see `_grace_replay`).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, CursorResult, delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from manimagent import mail
from manimagent.context import Context
from manimagent.errors import BadInput, ConfigError, Forbidden, NotFound, RateLimited, Unauthorized
from manimagent.schemas import LoginResult, MessageResult, TokenPair, UserPublic, WaitlistEntryPublic
from manimagent.settings import Settings
from manimagent.store.models import (
    EmailToken,
    EvalItem,
    EvalRun,
    Execution,
    FixMemory,
    RefreshToken,
    Script,
    User,
    WaitlistEntry,
    utcnow,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ACCESS_TTL = timedelta(minutes=15)  # the default of server.access_token_minutes
REFRESH_TTL = timedelta(days=7)
EMAIL_TOKEN_TTL = timedelta(hours=24)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 150
MAX_REASON_LENGTH = 2000
ALGORITHM = "HS256"
VERIFY_PURPOSE = "verify_email"
SECRET_FILE_NAME = "secret_key"
SECRET_KEYRING_SERVICE = "manimagent-secret"

REGISTERED = "Registration successful. Please verify your email."
VERIFIED = "Email verified."
RESENT = "If that account exists and is not verified yet, a new verification mail is on its way."
BAD_CREDENTIALS = "Invalid email or password."
NOT_VERIFIED = (
    "Email not verified. Use the token from the verification mail (POST /api/auth/verify-email/ "
    "or `manimagent auth verify-email TOKEN`); ask for a new one with POST /api/auth/resend-verification/."
)
BAD_EMAIL_TOKEN = "Invalid or expired verification token."
BAD_REFRESH = "Invalid or expired refresh token."
REFRESH_REUSED = (
    "This refresh token was already used; every session of its login is now signed out. Log in again."
)
BAD_ACCESS = "Invalid or expired access token."
WAITLISTED = "Thank you: you are on the waiting list."
PASSWORDS_DIFFER = "The two passwords do not match."


# ---- request and response documents -------------------------------------------------------


class LoginIn(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "email"})
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class RegisterIn(LoginIn):
    """The service checks the fields (400 with `details`); the schema only documents the rules."""

    password: str = Field(
        max_length=MAX_PASSWORD_LENGTH,
        description=f"At least {MIN_PASSWORD_LENGTH} characters, not the email address",
        json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
    )
    password2: str | None = Field(
        default=None, max_length=MAX_PASSWORD_LENGTH, description="When sent, it must equal `password`"
    )
    first_name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    last_name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    invitation_token: str | None = Field(
        default=None,
        max_length=200,
        description="Accepted for omega-client; manimagent has no invitations and ignores it",
    )


class WaitlistIn(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "email"})
    name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    reason: str = Field(default="", max_length=MAX_REASON_LENGTH, description="Why you would like an account")


class VerifyEmailIn(BaseModel):
    token: str = Field(max_length=200)


class ResendVerificationIn(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "email"})


class RefreshIn(BaseModel):
    refresh: str = Field(max_length=4096)


# ---- rate limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: float  # seconds


REGISTER_PER_ADDRESS = Limit(20, 3600)
REGISTER_PER_EMAIL = Limit(5, 3600)
WAITLIST_PER_ADDRESS = Limit(20, 3600)
LOGIN_FAILURES_PER_PAIR = Limit(10, 300)  # one (email, address): refused for the rest of the window
LOGIN_FAILURES_PER_ADDRESS = Limit(100, 300)  # one address, every email: refused for the rest of the window
LOGIN_FAILURES_PER_EMAIL = Limit(10, 300)  # one email, every address: past this, logins are only spaced out
LOGIN_SPACING_MAX = 30.0  # seconds: the longest spacing per-email failures impose


def login_spacing(failures: int) -> float:
    """Seconds a login for an email must wait after its last failure, once it has `failures`
    failures in the window (0 below the limit): 1, 2, 4 ... up to LOGIN_SPACING_MAX."""
    over = failures - LOGIN_FAILURES_PER_EMAIL.attempts
    return 0.0 if over < 0 else min(LOGIN_SPACING_MAX, float(2 ** min(over, 8)))


class RateLimiter:
    """Sliding windows in memory, keyed by (bucket, key). One per server; the local CLI has none."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, bucket: str, key: str, limit: Limit) -> None:
        """RateLimited when `key` already used up `limit` in this bucket."""
        with self._lock:
            hits = self._window(bucket, key, limit)
            if len(hits) >= limit.attempts:
                wait = int(limit.window - (self._clock() - hits[0])) + 1
                raise RateLimited(
                    "Too many attempts.", hint=f"Try again in {wait} seconds", details={"retry_after": wait}
                )

    def record(self, bucket: str, key: str, limit: Limit) -> None:
        with self._lock:
            self._window(bucket, key, limit).append(self._clock())

    def hit(self, *windows: tuple[str, str, Limit]) -> None:
        """Count one attempt in every (bucket, key, limit) window, unless one of them is full."""
        for window in windows:
            self.check(*window)
        for window in windows:
            self.record(*window)

    def space(self, bucket: str, key: str, limit: Limit, spacing: Callable[[int], float]) -> None:
        """RateLimited while less than `spacing(len(window))` seconds passed since the window's last
        hit: a slowdown that never locks out, only spaces attempts (the wait is in `retry_after`)."""
        with self._lock:
            hits = self._window(bucket, key, limit)
            wait = spacing(len(hits)) - (self._clock() - hits[-1]) if hits else 0.0
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(
                "Too many failed logins for this account: logins are slowed down.",
                hint=f"Try again in {seconds} seconds",
                details={"retry_after": seconds},
            )

    def _window(self, bucket: str, key: str, limit: Limit) -> deque[float]:
        hits = self._hits.setdefault((bucket, key), deque())
        horizon = self._clock() - limit.window
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits


# ---- passwords and emails -----------------------------------------------------------------


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    """The validated, lower-case form of an address; BadInput with `details` when it is not one."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise BadInput("Invalid registration.", details=[_field("email", str(exc))]) from None


def _field(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message, "type": "value_error"}


def check_password(password: str, email: str) -> None:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            _field("password", f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
        )
    if password.strip().lower() == email.lower():
        problems.append(_field("password", "The password must not be the email address."))
    if problems:
        raise BadInput("Invalid registration.", details=problems)


def _lookup_email(email: str) -> str:
    """The key under which an address is stored or limited, without validating it."""
    return email.strip().lower()


# ---- registration and verification --------------------------------------------------------


def register(
    ctx: Context,
    *,
    email: str,
    password: str,
    password2: str | None = None,
    first_name: str = "",
    last_name: str = "",
    client: str = "local",
    limiter: RateLimiter | None = None,
    server_url: str | None = None,
) -> MessageResult:
    """Create an unverified account (with its name) and mail its verification token.

    The answer is the same whether or not the address already has an account, so registration
    cannot be used to find out who has one; the owner of an existing account gets a notice instead.
    `password2`, when given, must repeat `password`.
    """
    if limiter:
        limiter.hit(
            ("register-address", client, REGISTER_PER_ADDRESS),
            ("register-email", _lookup_email(email), REGISTER_PER_EMAIL),
        )
    normalized = normalize_email(email)
    check_password(password, normalized)
    check_password_repeated(password, password2)
    names = clean_names(first_name, last_name)
    with ctx.session() as session:
        user = _user_by_email(session, normalized)
        if user is None:
            user = _create_user(session, normalized, password, names)
            _send_verification(session, ctx.settings, user, server_url)
        elif not user.email_verified:
            _send_verification(session, ctx.settings, user, server_url)
        else:
            _send_already_registered(ctx.settings, user)
    return MessageResult(message=REGISTERED)


def check_password_repeated(password: str, password2: str | None) -> None:
    """BadInput when a repeated password (omega-client's `password2`) was sent and differs."""
    if password2 is not None and not secrets.compare_digest(password.encode(), password2.encode()):
        raise BadInput("Invalid registration.", details=[_field("password2", PASSWORDS_DIFFER)])


def clean_names(first_name: str, last_name: str) -> tuple[str, str]:
    """The first and last name on one line each; BadInput for control characters or an overlong name."""
    checked = [
        _one_line(value, name, MAX_NAME_LENGTH)
        for name, value in (("first_name", first_name), ("last_name", last_name))
    ]
    problems = [problem for _, problem in checked if problem]
    if problems:
        raise BadInput("Invalid registration.", details=problems)
    return checked[0][0], checked[1][0]


def _one_line(value: str | None, field_name: str, limit: int) -> tuple[str, dict[str, str] | None]:
    """`value` with its whitespace runs made single spaces, and the problem with it (or None)."""
    text = " ".join((value or "").split())
    if len(text) > limit or any(not char.isprintable() for char in text):
        return text, _field(field_name, f"One line of at most {limit} printable characters.")
    return text, None


def _create_user(session: Session, email: str, password: str, names: tuple[str, str] = ("", "")) -> User:
    user = User(email=email, password_hash=hash_password(password), first_name=names[0], last_name=names[1])
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == _lookup_email(email))).first()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_email_token() -> str:
    """A random URL-safe token that does not start with "-" (a command line would take it for an option)."""
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    return token


def _send_verification(
    session: Session, settings: Settings, user: User, server_url: str | None = None
) -> None:
    """The token mail; `server_url` (set when the server sends it) goes into the command to run."""
    token = new_email_token()
    row = EmailToken(
        user_id=_stored_id(user),
        token_hash=_token_digest(token),
        purpose=VERIFY_PURPOSE,
        expires_at=utcnow() + EMAIL_TOKEN_TTL,
    )
    session.add(row)
    session.commit()
    body = (
        "Welcome to manimagent.\n\n"
        "Confirm your email address with this token (valid for 24 hours, usable once):\n\n"
        f"Verification token: {token}\n\n"
        'Send it to POST /api/auth/verify-email/ as {"token": "..."}, or run\n'
        f"  manimagent auth verify-email {token}"
        + (f" --server {server_url.rstrip('/')}" if server_url else "")
        + "\n\n"
        "If you did not register, ignore this mail.\n"
    )
    mail.send_mail(settings, to=user.email, subject="Verify your manimagent account", body=body)


def _send_already_registered(settings: Settings, user: User) -> None:
    body = (
        "Someone (maybe you) tried to register a manimagent account with this address, "
        "which already has a verified account.\n\nLog in with your password instead. "
        "If it was not you, nothing changed.\n"
    )
    mail.send_mail(settings, to=user.email, subject="Your manimagent account", body=body)


def resend_verification(
    ctx: Context,
    *,
    email: str,
    client: str = "local",
    limiter: RateLimiter | None = None,
    server_url: str | None = None,
) -> MessageResult:
    """A new verification token for an unverified account; the same answer for every address."""
    if limiter:
        limiter.hit(
            ("register-address", client, REGISTER_PER_ADDRESS),
            ("register-email", _lookup_email(email), REGISTER_PER_EMAIL),
        )
    with ctx.session() as session:
        user = _user_by_email(session, email)
        if user is not None and not user.email_verified and user.is_active:
            _send_verification(session, ctx.settings, user, server_url)
    return MessageResult(message=RESENT)


def verify_email(ctx: Context, *, token: str) -> MessageResult:
    """Mark the account of a valid, unused, unexpired token verified; the token is spent."""
    with ctx.session() as session:
        row = session.exec(
            select(EmailToken).where(
                EmailToken.token_hash == _token_digest(token.strip()), EmailToken.purpose == VERIFY_PURPOSE
            )
        ).first()
        if row is None or row.expires_at <= utcnow() or not _spend_email_token(session, row):
            raise BadInput(BAD_EMAIL_TOKEN, hint="Ask for a new one with POST /api/auth/resend-verification/")
        user = session.get(User, row.user_id)
        if user is None:  # the account went since the token was mailed
            raise BadInput(BAD_EMAIL_TOKEN, hint="Ask for a new one with POST /api/auth/resend-verification/")
        user.email_verified = True
        session.add(user)
        _spend_other_email_tokens(session, row.user_id)
        session.commit()
    return MessageResult(message=VERIFIED)


def _stored_id(user: User) -> int:
    """The id of an account read from (or flushed to) the store, which always has one."""
    assert user.id is not None, "an account not yet in the store"
    return user.id


def _rows_changed(result: Any) -> int:
    """How many rows an UPDATE matched (Session.execute types its result without `rowcount`)."""
    return cast(CursorResult[Any], result).rowcount


def _spend_email_token(session: Session, row: EmailToken) -> bool:
    """Mark the token used; False when another request used it first."""
    result = session.execute(
        update(EmailToken)
        .where(col(EmailToken.id) == row.id, col(EmailToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    return _rows_changed(result) == 1


def _spend_other_email_tokens(session: Session, user_id: int) -> None:
    session.execute(
        update(EmailToken)
        .where(
            col(EmailToken.user_id) == user_id,
            col(EmailToken.purpose) == VERIFY_PURPOSE,
            col(EmailToken.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )


# ---- login and tokens ---------------------------------------------------------------------


def login(
    ctx: Context, *, email: str, password: str, client: str = "local", limiter: RateLimiter | None = None
) -> LoginResult:
    """A fresh token pair (a new family) and the account, for a verified account with the right password."""
    key = _lookup_email(email)
    if limiter:
        _check_login_limits(limiter, key, client)
    with ctx.session() as session:
        user = _user_by_email(session, key)
        if not _credentials_ok(user, password):
            if limiter:
                _record_login_failure(limiter, key, client)
            raise Unauthorized(BAD_CREDENTIALS)
        if not user.email_verified:
            raise Forbidden(NOT_VERIFIED)
        _after_login(session, user, password)
        pair = _issue_pair(session, ctx.settings, user, family=uuid.uuid4().hex)
        return LoginResult(access=pair.access, refresh=pair.refresh, user=UserPublic.model_validate(user))


def _check_login_limits(limiter: RateLimiter, email: str, client: str) -> None:
    """Refuse (429) an address that failed too often, for this email or for any; and space out
    logins for an email that failed too often from anywhere, so an attacker elsewhere only slows
    the real user down (Retry-After) and never locks the account."""
    limiter.check("login-address", client, LOGIN_FAILURES_PER_ADDRESS)
    limiter.check("login-pair", f"{email}\x00{client}", LOGIN_FAILURES_PER_PAIR)
    limiter.space("login-email", email, LOGIN_FAILURES_PER_EMAIL, login_spacing)


def _record_login_failure(limiter: RateLimiter, email: str, client: str) -> None:
    limiter.record("login-address", client, LOGIN_FAILURES_PER_ADDRESS)
    limiter.record("login-pair", f"{email}\x00{client}", LOGIN_FAILURES_PER_PAIR)
    limiter.record("login-email", email, LOGIN_FAILURES_PER_EMAIL)


def _credentials_ok(user: User | None, password: str) -> TypeGuard[User]:
    if user is None:
        password_matches(_dummy_hash(), password)  # the same work as for a real account
        return False
    return password_matches(user.password_hash, password) and user.is_active


def _after_login(session: Session, user: User, password: str) -> None:
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login = utcnow()
    session.add(user)
    session.commit()


def _issue_pair(session: Session, settings: Settings, user: User, *, family: str) -> TokenPair:
    row = _new_refresh_row(_stored_id(user), family)
    session.add(row)
    session.commit()
    return _encode_pair(settings, row)


def _new_refresh_row(user_id: int, family: str) -> RefreshToken:
    """A refresh token row issued now (whole seconds, so its pair can be encoded again identically)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return RefreshToken(
        jti=uuid.uuid4().hex, family=family, user_id=user_id, created_at=now, expires_at=now + REFRESH_TTL
    )


def _encode_pair(settings: Settings, row: RefreshToken) -> TokenPair:
    """The pair of a refresh token row: the same row always encodes to the same two tokens."""
    issued = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    common = {"sub": str(row.user_id), "fam": row.family}
    access_jti = hashlib.sha256(f"access\x00{row.jti}".encode()).hexdigest()[:32]
    access = encode_token(
        settings, {**common, "type": "access", "jti": access_jti}, issued, access_ttl(settings)
    )
    refresh = encode_token(settings, {**common, "type": "refresh", "jti": row.jti}, issued, REFRESH_TTL)
    return TokenPair(access=access, refresh=refresh)


def access_ttl(settings: Settings) -> timedelta:
    """`server.access_token_minutes` (default 15); ConfigError below one minute."""
    minutes = int(settings.values.get("access_token_minutes", ACCESS_TTL.total_seconds() // 60))
    if minutes < 1 or minutes > 60 * 24 * 7:
        raise ConfigError(
            f"server.access_token_minutes must be between 1 and 10080, got {minutes}",
            hint="Fix it in config.toml",
        )
    return timedelta(minutes=minutes)


def refresh_reuse_grace(settings: Settings) -> timedelta:
    """`server.refresh_reuse_grace_seconds` (default 0: a reused refresh token always revokes)."""
    seconds = int(settings.values.get("refresh_reuse_grace_seconds", 0))
    if seconds < 0 or seconds > 3600:
        raise ConfigError(
            f"server.refresh_reuse_grace_seconds must be between 0 and 3600, got {seconds}",
            hint="Fix it in config.toml",
        )
    return timedelta(seconds=seconds)


def check_token_settings(settings: Settings) -> None:
    """ConfigError now (at serve's start) for a token lifetime out of range, not at the first login."""
    access_ttl(settings)
    refresh_reuse_grace(settings)


def encode_token(settings: Settings, claims: dict[str, Any], now: datetime, ttl: timedelta) -> str:
    import jwt

    body = {"jti": uuid.uuid4().hex, **claims, "iat": now, "exp": now + ttl}
    return jwt.encode(body, secret_key(settings), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str, kind: str) -> dict[str, Any]:
    """The claims of a valid, unexpired token of that kind; Unauthorized otherwise."""
    import jwt

    message = BAD_ACCESS if kind == "access" else BAD_REFRESH
    try:
        claims = jwt.decode(
            token,
            secret_key(settings),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except jwt.PyJWTError:
        raise Unauthorized(message) from None
    if claims.get("type") != kind or not str(claims.get("sub", "")).isdigit() or not claims.get("fam"):
        raise Unauthorized(message)
    return claims


def refresh_tokens(ctx: Context, *, refresh: str) -> TokenPair:
    """Rotate: retire this refresh token and issue a new pair; a retired one revokes its family."""
    claims = decode_token(ctx.settings, refresh, "refresh")
    with ctx.session() as session:
        row = session.exec(select(RefreshToken).where(RefreshToken.jti == claims["jti"])).first()
        if row is None or row.revoked_at is not None or str(row.user_id) != claims["sub"]:
            raise Unauthorized(BAD_REFRESH)
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Unauthorized(BAD_REFRESH)
        successor = _new_refresh_row(row.user_id, row.family)
        if _spend_refresh_token(session, row, successor):
            return _encode_pair(ctx.settings, successor)
        replayed = _grace_replay(session, ctx.settings, row)
        if replayed is not None:
            return replayed
        _revoke_family(session, row.family)
        raise Unauthorized(REFRESH_REUSED)


def _spend_refresh_token(session: Session, row: RefreshToken, successor: RefreshToken) -> bool:
    """Retire `row` in favour of `successor` (stored in the same transaction); False when it was
    already retired, so a parallel request never sees a retired token without its successor."""
    result = session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.id) == row.id,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=utcnow(), replaced_by=successor.jti)
    )
    if _rows_changed(result) != 1:
        session.rollback()
        return False
    session.add(successor)
    session.commit()
    return True


def _grace_replay(session: Session, settings: Settings, row: RefreshToken) -> TokenPair | None:
    """Within `server.refresh_reuse_grace_seconds` of its rotation, the pair `row` was rotated into
    (the very same tokens), while that pair is unused; None otherwise (the reuse then revokes)."""
    grace = refresh_reuse_grace(settings)
    if not grace:
        return None
    session.refresh(row)
    if (
        row.revoked_at is not None
        or row.used_at is None
        or not row.replaced_by
        or row.used_at < utcnow() - grace
    ):
        return None
    successor = session.exec(select(RefreshToken).where(RefreshToken.jti == row.replaced_by)).first()
    if successor is None or successor.used_at is not None or successor.revoked_at is not None:
        return None
    return _encode_pair(settings, successor)


def _revoke_family(session: Session, family: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family) == family, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()


def logout(ctx: Context, *, refresh: str) -> MessageResult:
    """Revoke the login (token family) a refresh token belongs to."""
    claims = decode_token(ctx.settings, refresh, "refresh")
    with ctx.session() as session:
        row = session.exec(select(RefreshToken).where(RefreshToken.jti == claims["jti"])).first()
        if row is not None and str(row.user_id) == claims["sub"]:
            _revoke_family(session, row.family)
    return MessageResult(message="Logged out.")


def authenticate(ctx: Context, *, access: str) -> UserPublic:
    """The verified, active user an access token was issued to, while its login is not revoked.

    One query on every authenticated request: the user's row, with the number of its login's
    (token family's) refresh tokens and of those that are revoked or were issued to someone else."""
    claims = decode_token(ctx.settings, access, "access")
    user_id, family = int(claims["sub"]), str(claims["fam"])
    in_family = col(RefreshToken.family) == family
    issued = select(func.count()).where(in_family).scalar_subquery()
    foreign_or_revoked = or_(col(RefreshToken.user_id) != user_id, col(RefreshToken.revoked_at).is_not(None))
    spoiled = select(func.count()).where(in_family, foreign_or_revoked).scalar_subquery()
    with ctx.session() as session:
        row = session.exec(select(User, issued, spoiled).where(col(User.id) == user_id)).first()
        if row is None:
            raise Unauthorized(BAD_ACCESS)
        user, tokens, bad = row
        if not (user.is_active and user.email_verified and tokens and not bad):
            raise Unauthorized(BAD_ACCESS)
        return UserPublic.model_validate(user)


# ---- profile and admin ----------------------------------------------------------------------


def get_profile(ctx: Context) -> UserPublic:
    """The account of `ctx.user_id`."""
    with ctx.session() as session:
        user = session.get(User, ctx.user_id) if ctx.user_id is not None else None
        if user is None:
            raise Unauthorized("Not logged in.", hint="Run `manimagent auth login`")
        return UserPublic.model_validate(user)


def promote(ctx: Context, *, email: str) -> UserPublic:
    """Make an account an administrator (on the server's machine only)."""
    if not ctx.is_admin:
        raise Forbidden("Only an administrator can promote accounts.")
    with ctx.session() as session:
        user = _user_by_email(session, email)
        if user is None:
            raise NotFound(f"no account with email {email!r}", hint="Register it first")
        user.is_admin = True
        session.add(user)
        session.commit()
        session.refresh(user)
        return UserPublic.model_validate(user)


def list_users(ctx: Context, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]:
    """Every account, oldest first (`limit` of them after `offset`); administrators only."""
    if not ctx.is_admin:
        raise Forbidden("Only an administrator can list accounts.")
    if (limit is not None and limit < 1) or offset < 0:
        raise BadInput("--limit must be at least 1 and --offset at least 0")
    with ctx.session() as session:
        rows = session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit)).all()
        return [UserPublic.model_validate(row) for row in rows]


class AccountDeleted(BaseModel):
    """`auth delete` and DELETE /api/auth/users/{email}/: what went with the account."""

    id: int
    email: str
    scripts: int  # removed, or given to `reassigned_to`
    executions: int
    reassigned_to: str | None = None
    tokens_revoked: int


def delete_user(
    ctx: Context,
    *,
    email: str,
    reassign_to: str | None = None,
    busy: Callable[[list[str]], None] | None = None,
) -> AccountDeleted:
    """Delete an account (administrators only): its tokens stop working at once and its id is never
    given again. Its scripts, executions, fix memory and eval runs are removed with their media, or,
    with `reassign_to`, given to that account (the media stays where it is).

    `busy(script_ids)`, when given, may raise to refuse while one of them renders (the server's 409).
    """
    if not ctx.is_admin:
        raise Forbidden("Only an administrator can delete accounts.")
    with ctx.session() as session:
        user = _existing_user(session, email)
        user_id = _stored_id(user)
        heir = _existing_user(session, reassign_to) if reassign_to else None
        if heir is not None and heir.id == user_id:
            raise BadInput(
                "an account cannot be reassigned to itself", hint="Name another account with --reassign-to"
            )
        script_ids = list(session.exec(select(Script.id).where(Script.owner_id == user_id)).all())
        if busy is not None:
            busy(script_ids)
        executions = _count(session, Execution, Execution.owner_id == user_id)
        tokens = _drop_tokens(session, user_id)
        if heir is not None:
            _reassign_rows(session, user_id, _stored_id(heir))
        else:
            _remove_rows(session, user_id, script_ids)
        result = AccountDeleted(
            id=user_id,
            email=user.email,
            scripts=len(script_ids),
            executions=executions,
            reassigned_to=heir.email if heir else None,
            tokens_revoked=tokens,
        )
        session.delete(user)
        session.commit()
    if heir is None:
        for script_id in script_ids:
            shutil.rmtree(ctx.settings.paths.media / script_id, ignore_errors=True)
    return result


def _existing_user(session: Session, email: str) -> User:
    user = _user_by_email(session, email)
    if user is None:
        raise NotFound(
            f"no account with email {email!r}", hint="See the accounts with `manimagent auth users`"
        )
    return user


def _count(session: Session, model: type[SQLModel], condition: ColumnElement[bool] | bool) -> int:
    from sqlmodel import func

    return int(session.exec(select(func.count()).select_from(model).where(condition)).one())


def _drop_tokens(session: Session, user_id: int) -> int:
    """Delete the account's refresh and email tokens: its logins (and their access tokens) end."""
    revoked = _count(
        session, RefreshToken, col(RefreshToken.revoked_at).is_(None) & (RefreshToken.user_id == user_id)
    )
    session.execute(delete(RefreshToken).where(col(RefreshToken.user_id) == user_id))
    session.execute(delete(EmailToken).where(col(EmailToken.user_id) == user_id))
    return revoked


def _reassign_rows(session: Session, user_id: int, heir_id: int) -> None:
    for model in (Script, Execution, FixMemory, EvalRun):
        session.execute(update(model).where(col(model.owner_id) == user_id).values(owner_id=heir_id))


def _remove_rows(session: Session, user_id: int, script_ids: list[str]) -> None:
    """The account's rows, children first; other accounts' refinements of its scripts keep living."""
    runs = select(EvalRun.id).where(EvalRun.owner_id == user_id)
    session.execute(delete(EvalItem).where(col(EvalItem.run_id).in_(runs)))
    session.execute(delete(EvalRun).where(col(EvalRun.owner_id) == user_id))
    session.execute(delete(FixMemory).where(col(FixMemory.owner_id) == user_id))
    session.execute(delete(Execution).where(col(Execution.owner_id) == user_id))
    if script_ids:
        session.execute(delete(Execution).where(col(Execution.script_id).in_(script_ids)))
        session.execute(update(Script).where(col(Script.parent_id).in_(script_ids)).values(parent_id=None))
        session.execute(delete(Script).where(col(Script.id).in_(script_ids)))


# ---- the waiting list -----------------------------------------------------------------------


def join_waitlist(
    ctx: Context,
    *,
    email: str,
    name: str = "",
    reason: str = "",
    client: str = "local",
    limiter: RateLimiter | None = None,
) -> MessageResult:
    """Put an address on the waiting list; the same answer when it is there already (the first
    entry stays)."""
    if limiter:
        limiter.hit(("waitlist-address", client, WAITLIST_PER_ADDRESS))
    try:
        normalized = normalize_email(email)
    except BadInput as exc:
        raise BadInput("Invalid waiting-list request.", details=exc.details) from None
    clean_name, problem = _one_line(name, "name", MAX_NAME_LENGTH)
    if problem:
        raise BadInput("Invalid waiting-list request.", details=[problem])
    with ctx.session() as session:
        _add_once(
            session,
            WaitlistEntry(
                email=normalized, name=clean_name, reason=(reason or "").strip()[:MAX_REASON_LENGTH]
            ),
        )
    return MessageResult(message=WAITLISTED)


def _add_once(session: Session, entry: WaitlistEntry) -> None:
    """Store `entry` unless its address is listed already (a parallel request included)."""
    if session.exec(select(WaitlistEntry.id).where(WaitlistEntry.email == entry.email)).first() is not None:
        return
    session.add(entry)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def list_waitlist(ctx: Context) -> list[WaitlistEntryPublic]:
    """Everyone on the waiting list, first come first; administrators only."""
    if not ctx.is_admin:
        raise Forbidden("Only an administrator can list the waiting list.")
    with ctx.session() as session:
        rows = session.exec(
            select(WaitlistEntry).order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
        ).all()
        return [WaitlistEntryPublic.model_validate(row) for row in rows]


# ---- the signing secret ---------------------------------------------------------------------

_secret_lock = threading.Lock()


def secret_key(settings: Settings) -> str:
    """MANIMAGENT_SECRET_KEY, else the one generated for this home (keyring, else a 0600 file)."""
    known = settings.secret_key
    if known:
        return known
    with _secret_lock:
        known = settings.secret_key  # another thread may have made it meanwhile
        if not known:
            known, source = _stored_or_new_secret(settings.paths.data)
            settings.values["secret_key"] = known
            settings.sources["secret_key"] = source
    return known


def _stored_or_new_secret(home: Path) -> tuple[str, str]:
    path = home / SECRET_FILE_NAME
    if path.is_file():
        return path.read_text(encoding="utf-8").strip(), f"file {path}"
    stored = _keyring_secret(home)
    if stored:
        return stored, "keyring"
    value = secrets.token_urlsafe(48)
    if _keyring_store_secret(home, value):
        return value, "keyring"
    _write_secret_file(path, value)
    return path.read_text(encoding="utf-8").strip(), f"file {path}"


def _keyring_secret(home: Path) -> str | None:
    try:
        import keyring

        return keyring.get_password(SECRET_KEYRING_SERVICE, str(home))
    except Exception:  # noqa: BLE001 - any keyring failure means: use the file
        return None


def _keyring_store_secret(home: Path, value: str) -> bool:
    try:
        import keyring

        keyring.set_password(SECRET_KEYRING_SERVICE, str(home), value)
        return keyring.get_password(SECRET_KEYRING_SERVICE, str(home)) == value
    except Exception:  # noqa: BLE001 - no usable keyring: fall back to the file
        return False


def _write_secret_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process wrote it first; the caller reads that one
    except OSError as exc:
        raise ConfigError(
            f"cannot write the secret key file {path}: {exc}", hint="Set MANIMAGENT_SECRET_KEY"
        ) from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
