"""/media/<path>: rendered files, to their owner's Bearer token or through a signed `output_url`; else 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from manimagent.server.deps import OptionalUser, SessionDep, SettingsDep
from manimagent.server.media import authorized_media

router = APIRouter(tags=["media"])


@router.head("/media/{path:path}", include_in_schema=False)
@router.get("/media/{path:path}", response_class=FileResponse, responses={404: {"description": "Not found"}})
def media(
    path: str,
    settings: SettingsDep,
    session: SessionDep,
    user: OptionalUser,
    expires: Annotated[int | None, Query(description="Expiry of a signed URL (unix seconds)")] = None,
    sig: Annotated[str | None, Query(max_length=128, description="Signature of a signed URL")] = None,
) -> FileResponse:
    """A rendered file you own, or any file through its signed, unexpired URL."""
    file = authorized_media(settings, session, user, path, expires=expires, sig=sig)
    return FileResponse(file, headers={"Cache-Control": "private, max-age=300"})
