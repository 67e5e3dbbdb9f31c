"""One queued render, in its own process under `manimagent worker`:
`python -m manimagent.server.queue_job` with the job as JSON on stdin.

It runs the same service as serve's pool (execute or retry, repairs included) in the worker's home,
tags each attempt with the worker's name, publishes the events (NOTIFY), sends each finished
render's files to the server over HTTP with the worker token before its row is written (so rows
name the server's copies), and leaves the result document on the job's first row. SIGTERM (a
cancel) stops it like Ctrl-C: the render is killed and its row is `interrupted`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from manimagent.context import Context
from manimagent.errors import ConfigError, ManimagentError
from manimagent.events import Event, RenderStarted
from manimagent.settings import Settings, load_settings
from manimagent.store.models import Execution, ExecutionStatus

if TYPE_CHECKING:
    import psycopg

CANCELLED = "cancelled"
DIED = "its worker {worker} stopped during the render; the job was taken up again"


@dataclass
class Job:
    execution_id: str  # the queued row: the job's first attempt, the name of its event log
    action: str  # execute | retry
    options: dict[str, Any]
    user_id: int | None
    is_admin: bool
    worker: str
    server: str
    token: str
    media_root: str  # the server's media folder


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    job = Job(**json.loads(sys.stdin.read()))
    settings = load_settings()
    settings.paths.ensure()
    from manimagent.render.sandbox import REQUIRE_SANDBOX

    settings.values[REQUIRE_SANDBOX] = not settings.allow_unsandboxed_renders  # as serve's own renders
    return run(job, settings)


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run(job: Job, settings: Settings) -> int:
    publisher = Publisher(settings, job)
    ctx = Context(
        settings=settings,
        user_id=job.user_id,
        is_admin=job.is_admin,
        events=publisher,
        media_sink=MediaSender(settings, job),
    )
    queued = take_over(ctx, job)
    if queued is False:
        return 0  # cancelled (or finished) before it started
    try:
        result = _service(ctx, job, queued)
    except KeyboardInterrupt:
        _settle(ctx, job, ExecutionStatus.INTERRUPTED, CANCELLED, also_interrupted=True)
        _leave(
            ctx, job, {"success": False, "status": "interrupted", "error": "cancelled", "http_status": 409}
        )
        publisher.done(False, "cancelled")
        return 130
    except ManimagentError as exc:
        _settle(ctx, job, ExecutionStatus.FAILED, exc.one_line())  # e.g. the media could not be sent
        _leave(
            ctx,
            job,
            {"success": False, "status": "failed", "error": exc.one_line(), "http_status": exc.http_status},
        )
        publisher.done(False, exc.one_line())
        return 0
    finally:
        publisher.close()
    doc = result.model_dump(mode="json")
    _leave(ctx, job, doc)
    publisher.done(bool(doc.get("success")), doc.get("error"), doc)
    return 0


def take_over(ctx: Context, job: Job) -> str | None | Literal[False]:
    """The queued row for the first attempt; None when an earlier try of this job died holding it
    (that row becomes `interrupted` with the reason, and this try is a new attempt); False when the
    row is already over (cancelled)."""
    with ctx.session() as session:
        row = session.get(Execution, job.execution_id)
        if row is None or row.status not in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value):
            return False
        if row.status == ExecutionStatus.QUEUED.value:
            row.worker = job.worker
            session.add(row)
            session.commit()
            return row.id
        row.finish(ExecutionStatus.INTERRUPTED, DIED.format(worker=row.worker or "?"))
        session.add(row)
        session.commit()
        return None


def _settle(
    ctx: Context, job: Job, status: ExecutionStatus, error: str, also_interrupted: bool = False
) -> None:
    """The attempts this job left unfinished (and, for a cancel, those the interrupt ended) end
    with `status` and say why."""
    from sqlmodel import col, select

    with ctx.session() as session:
        first = session.get(Execution, job.execution_id)
        if first is None:
            return
        open_ = [ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value] + (
            [ExecutionStatus.INTERRUPTED.value] if also_interrupted else []
        )
        query = select(Execution).where(
            Execution.script_id == first.script_id,
            Execution.worker == job.worker,
            col(Execution.status).in_(open_),
        )
        for row in session.exec(query).all():
            if row.id == first.id or row.created_at >= first.created_at:
                row.finish(status, error)
                session.add(row)
        session.commit()


def _service(ctx: Context, job: Job, queued: str | None):
    from manimagent.services.executions import retry_execution
    from manimagent.services.render import execute_script

    options = dict(job.options)
    if job.action == "retry":
        return retry_execution(ctx, queued=queued, **options)
    return execute_script(ctx, queued=queued, **options)


def _leave(ctx: Context, job: Job, doc: dict[str, Any]) -> None:
    """The result document on the first row, where the server waiting for this job reads it."""
    with ctx.session() as session:
        row = session.get(Execution, job.execution_id)
        if row is not None:
            row.result = doc
            session.add(row)
            session.commit()


# ---- media to the server -------------------------------------------------------------------------


class MediaSender:
    """The Context's media_sink: PUT each finished file to the server (same place under its media
    folder) before the row is written, so a row never names a file the server lacks; the worker's
    copy is removed. A worker whose media folder is the server's (a shared mount) sends nothing."""

    def __init__(self, settings: Settings, job: Job) -> None:
        self._root = settings.paths.media
        self._job = job

    def __call__(self, outputs: list[Path], output_path: Path) -> tuple[list[Path], Path]:
        shared = os.path.realpath(self._root) == os.path.realpath(
            self._job.media_root
        )  # one folder, mounted on both
        moved = {path: self._shared(path) if shared else self._send(path) for path in {*outputs, output_path}}
        return [moved[path] for path in outputs], moved[output_path]

    def _shared(self, path: Path) -> Path:
        """A shared media folder: the server has the file already, under its own name for the folder."""
        return Path(self._job.media_root) / path.relative_to(self._root)

    def _send(self, path: Path) -> Path:
        try:
            relative = path.relative_to(self._root)
        except ValueError:
            return path  # not a file of this home's media (nothing to send)
        sent = Path(_upload(self._job, path, relative))
        path.unlink(missing_ok=True)
        return sent


def _upload(job: Job, path: Path, relative: Path) -> str:
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in relative.parts)
    with open(path, "rb") as body:
        request = urllib.request.Request(
            f"{job.server}/api/workers/media/{quoted}",
            data=body,
            method="PUT",
            headers={
                "Authorization": f"Bearer {job.token}",
                "Content-Length": str(path.stat().st_size),
                "Content-Type": "application/octet-stream",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                return json.loads(answer.read())["path"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"could not send {relative} to the server {job.server}: {exc}",
                hint="Check MANIMAGENT_SERVER and the worker token",
            ) from exc


# ---- events through the database -----------------------------------------------------------------


class Publisher:
    """The job's event sink: tags each new attempt with the worker, and NOTIFYs every event for
    serve's listener; `done` is sent by run() with the result, after the media are at the server."""

    def __init__(self, settings: Settings, job: Job) -> None:
        self._settings = settings
        self._job = job
        self._conn: psycopg.Connection[Any] | None = None

    def __call__(self, event: Event) -> None:
        if (
            isinstance(event, RenderStarted)
            and event.execution_id
            and event.execution_id != self._job.execution_id
        ):
            self._tag(event.execution_id)
        if event.kind != "done":
            self._send(event.to_dict())

    def _tag(self, execution_id: str) -> None:
        from manimagent.store.db import open_session

        with open_session(self._settings.database_url_effective) as session:
            row = session.get(Execution, execution_id)
            if row is not None:
                row.worker = self._job.worker
                session.add(row)
                session.commit()

    def done(self, success: bool, error: str | None, result: dict[str, Any] | None = None) -> None:
        self._send(
            {
                "event": "done",
                "success": success,
                "output_path": (result or {}).get("output_path"),
                "error": error,
                **({"result": result} if result else {}),
            }
        )
        self.close()

    def _send(self, doc: dict[str, Any]) -> None:
        from manimagent.server.queue import conninfo, notify_event

        try:
            if self._conn is None:
                import psycopg

                self._conn = psycopg.connect(conninfo(self._settings), autocommit=True)
            notify_event(self._conn, self._job.execution_id, doc)
        except Exception:  # noqa: BLE001 - progress is a convenience: the render goes on without it
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


if __name__ == "__main__":
    sys.exit(main())
