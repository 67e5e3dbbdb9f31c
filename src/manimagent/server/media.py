"""Private media: resolving `/media/<path>` inside the media root, owners, and signed expiring URLs.

A signed URL is `/media/<path>?expires=<unix seconds>&sig=<HMAC-SHA256 of path and expiry>`, keyed by
the server secret, so a `<video src>` works without a Bearer header until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel
from sqlalchemy import String, cast, or_
from sqlmodel import Session, col, select

from manimagent.errors import NotFound
from manimagent.render.poster import poster_path
from manimagent.schemas import UserPublic
from manimagent.services.auth import secret_key
from manimagent.settings import Settings
from manimagent.store.models import Execution

MEDIA_URL_TTL = 6 * 3600  # seconds a signed output_url stays valid (at least)
URL_EXPIRY_STEP = 60  # expiries are whole minutes, so two reads a moment apart sign the same URL
MEDIA_PREFIX = "/media/"
NOT_FOUND = "Not found."

Doc = TypeVar("Doc", bound=BaseModel)


def media_root(settings: Settings) -> Path:
    return settings.paths.media.resolve()


def resolve_media(settings: Settings, requested: str) -> Path:
    """The regular file `requested` names inside the media root (links resolved); NotFound otherwise."""
    root = media_root(settings)
    try:
        if "\x00" in requested or any(part.startswith(".") for part in Path(requested).parts):
            raise NotFound(NOT_FOUND)
        target = (root / requested.lstrip("/")).resolve(strict=True)
        if not target.is_relative_to(root) or target == root or not target.is_file():
            raise NotFound(NOT_FOUND)
    except (OSError, ValueError, RuntimeError):
        raise NotFound(NOT_FOUND) from None
    return target


def relative_media_path(settings: Settings, file: Path) -> str | None:
    """`file` as a path below the media root, or None when it is not inside it."""
    try:
        resolved = Path(file).resolve()
    except (OSError, RuntimeError):
        return None
    root = media_root(settings)
    return (
        resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) and resolved != root else None
    )


def signature(settings: Settings, relative: str, expires: int) -> str:
    key = hashlib.sha256(b"manimagent-media\x00" + secret_key(settings).encode()).digest()
    return hmac.new(key, f"{relative}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signature_valid(settings: Settings, relative: str, expires: int | None, sig: str | None) -> bool:
    if expires is None or not sig or expires < time.time():
        return False
    return hmac.compare_digest(signature(settings, relative, expires), sig)


def signed_url(
    settings: Settings, base_url: str, output_path: str | None, *, ttl: int = MEDIA_URL_TTL
) -> str | None:
    """The signed, expiring URL of an output file inside the media root; None for anything else."""
    relative = relative_media_path(settings, Path(output_path)) if output_path else None
    if relative is None:
        return None
    expires = (
        int(time.time()) + ttl
    ) // URL_EXPIRY_STEP * URL_EXPIRY_STEP + URL_EXPIRY_STEP  # one URL per minute: reads agree
    query = urlencode({"expires": expires, "sig": signature(settings, relative, expires)})
    return f"{base_url.rstrip('/')}{MEDIA_PREFIX}{quote(relative)}?{query}"


def owner_has(session: Session, user: UserPublic, file: Path) -> bool:
    """Whether one of `user`'s executions produced `file` (its outputs, or its video's poster)."""
    query = select(Execution.output_path, Execution.outputs).where(
        Execution.owner_id == user.id,
        or_(
            col(Execution.output_path).endswith(file.name),
            col(Execution.output_path).contains(
                f"{file.parent.name}{os.sep}{file.stem}."
            ),  # its video, for a poster
            cast(Execution.outputs, String).contains(file.name),
        ),
    )
    for output_path, outputs in session.exec(query).all():
        for candidate in [output_path, *(outputs or []), poster_path(output_path) if output_path else None]:
            if candidate and _same_file(str(candidate), file):
                return True
    return False


def _same_file(candidate: str, file: Path) -> bool:
    try:
        return Path(candidate).resolve() == file
    except (OSError, RuntimeError):
        return False


def authorized_media(
    settings: Settings,
    session: Session,
    user: UserPublic | None,
    requested: str,
    *,
    expires: int | None,
    sig: str | None,
) -> Path:
    """The file `requested` names, when the signature is valid or `user` owns it; NotFound otherwise."""
    file = resolve_media(settings, requested)
    if signature_valid(settings, relative_media_path(settings, file) or "", expires, sig):
        return file
    if user is not None and owner_has(session, user, file):
        return file
    raise NotFound(NOT_FOUND)


def with_output_url(settings: Settings, base_url: str, doc: Doc) -> Doc:
    """A copy of a result with `output_url` and `poster_url` (and its nested execution's) signed."""
    updates: dict[str, object] = {}
    output_path, poster_path = getattr(doc, "output_path", None), getattr(doc, "poster_path", None)
    if "output_url" in type(doc).model_fields and output_path:
        updates["output_url"] = signed_url(settings, base_url, output_path)
    if "poster_url" in type(doc).model_fields and poster_path:
        updates["poster_url"] = signed_url(settings, base_url, poster_path)
    nested = getattr(doc, "execution", None)
    if isinstance(nested, BaseModel):
        updates["execution"] = with_output_url(settings, base_url, nested)
    return doc.model_copy(update=updates) if updates else doc
