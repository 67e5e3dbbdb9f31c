"""/api/workers/: what a `manimagent worker` asks of the server, with its worker token as Bearer.

GET me/ names the worker (a wrong token is a 401, so the worker stops before it takes a job);
PUT media/{script}/{execution}/{file} stores a finished file of an execution that worker ran in
this server's media folder and answers its path there.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam

from manimagent.errors import BadInput, NotFound, Unauthorized
from manimagent.store.models import Execution, Worker

router = APIRouter(prefix="/api/workers", tags=["workers"])
Part = Annotated[str, PathParam(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def _worker(request: Request, authorization: Annotated[str | None, Header()] = None) -> Worker:
    from manimagent.server.queue_worker import TOKEN_PREFIX, worker_for_token

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise Unauthorized(
            "a worker token is needed", hint="Send Authorization: Bearer <MANIMAGENT_WORKER_TOKEN>"
        )
    return worker_for_token(request.app.state.settings, token.strip())


WorkerDep = Annotated[Worker, Depends(_worker)]


@router.get("/me/")
def me(request: Request, worker: WorkerDep) -> dict[str, str]:
    """The worker this token belongs to, and where this server keeps media."""
    return {"name": worker.name, "media_root": str(request.app.state.settings.paths.media)}


@router.put("/media/{script_id}/{execution_id}/{filename}", status_code=201)
async def put_media(
    request: Request, worker: WorkerDep, script_id: Part, execution_id: Part, filename: Part
) -> dict[str, str]:
    """Store one finished file of an execution this worker ran (the body is the file)."""
    settings = request.app.state.settings
    await asyncio.to_thread(_check_owner, settings, worker.name, script_id, execution_id)
    folder = settings.paths.media / script_id / execution_id
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        target = folder / filename
        os.replace(partial, target)  # whole or not at all
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return {"path": str(target)}


def _check_owner(settings, worker: str, script_id: str, execution_id: str) -> None:
    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        row = session.get(Execution, execution_id)
    if row is None or row.script_id != script_id:
        raise NotFound("no such execution")
    if row.worker != worker:
        raise BadInput(
            f"execution {execution_id} was not run by worker {worker}",
            hint="A worker sends only the media of its own renders",
        )
