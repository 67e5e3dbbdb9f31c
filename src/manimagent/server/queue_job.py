"""One queued render, in its own process under `manimagent worker`: `python -m manimagent.server.queue_job`
with the job as JSON on stdin.

It runs the same service as serve's pool (execute or retry, repairs included) in the worker's home,
tags each attempt with the worker's name, publishes the events (NOTIFY), sends the media to the
server over HTTP with the worker token, points the rows at the server's copies, and leaves the
result document on the job's first row. SIGTERM (a cancel) stops it like Ctrl-C: the render is
killed and its row is `interrupted`.
"""

from __future__ import annotations

import json
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manimagent.errors import ConfigError, ManimagentError
from manimagent.events import Event, RenderStarted
from manimagent.services.context import Context
from manimagent.settings import Settings, load_settings
from manimagent.store.models import Execution, ExecutionStatus

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
    ctx = Context(settings=settings, user_id=job.user_id, is_admin=job.is_admin, events=publisher)
    queued = take_over(ctx, job)
    if queued is False:
        return 0  # cancelled (or finished) before it started
    try:
        result = _service(ctx, job, queued)
    except KeyboardInterrupt:
        _cancelled(ctx, job)
        _leave(ctx, job, {"success": False, "status": "interrupted", "error": "cancelled", "http_status": 409})
        publisher.done(False, "cancelled")
        return 130
    except ManimagentError as exc:
        _leave(ctx, job, {"success": False, "status": "failed", "error": exc.one_line(), "http_status": exc.http_status})
        publisher.done(False, exc.one_line())
        return 0
    finally:
        publisher.close()
    doc = send_media(ctx, job, result.model_dump(mode="json"))
    _leave(ctx, job, doc)
    publisher.done(bool(doc.get("success")), doc.get("error"), doc)
    return 0


def take_over(ctx: Context, job: Job) -> str | None | bool:
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


def _cancelled(ctx: Context, job: Job) -> None:
    """The attempts this job left unfinished or interrupted say why: it was cancelled."""
    from sqlmodel import col, select

    from manimagent.services.executions import CANCELLED

    with ctx.session() as session:
        first = session.get(Execution, job.execution_id)
        if first is None:
            return
        stopped = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value, ExecutionStatus.INTERRUPTED.value)
        query = select(Execution).where(Execution.script_id == first.script_id, Execution.worker == job.worker, col(Execution.status).in_(stopped))
        for row in session.exec(query).all():
            if row.id == first.id or row.created_at >= first.created_at:
                row.finish(ExecutionStatus.INTERRUPTED, CANCELLED)
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


def send_media(ctx: Context, job: Job, doc: dict[str, Any]) -> dict[str, Any]:
    """PUT every file the job's attempts made to the server; the rows and `doc` then name the
    server's copies (the worker's own are removed)."""
    local_root = str(ctx.settings.paths.media)
    moved: dict[str, str] = {}
    with ctx.session() as session:
        for execution_id in doc.get("executions") or [job.execution_id]:
            row = session.get(Execution, execution_id)
            if row is None:
                continue
            for path in {p for p in [row.output_path, *row.outputs] if p and p.startswith(local_root)}:
                moved[path] = _upload(job, Path(path), Path(path).relative_to(local_root))
            row.output_path = moved.get(row.output_path or "", row.output_path)
            row.outputs = [moved.get(p, p) for p in row.outputs]
            session.add(row)
        session.commit()
    for path in moved:
        Path(path).unlink(missing_ok=True)
    return _renamed(doc, moved)


def _upload(job: Job, path: Path, relative: Path) -> str:
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in relative.parts)
    with open(path, "rb") as body:
        request = urllib.request.Request(
            f"{job.server}/api/workers/media/{quoted}", data=body, method="PUT",
            headers={"Authorization": f"Bearer {job.token}", "Content-Length": str(path.stat().st_size), "Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                return json.loads(answer.read())["path"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"could not send {relative} to the server {job.server}: {exc}", hint="Check MANIMAGENT_SERVER and the worker token") from exc


def _renamed(value: Any, moved: dict[str, str]) -> Any:
    if isinstance(value, str):
        return moved.get(value, value)
    if isinstance(value, list):
        return [_renamed(item, moved) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item, moved) for key, item in value.items()}
    return value


# ---- events through the database -----------------------------------------------------------------


class Publisher:
    """The job's event sink: tags each new attempt with the worker, and NOTIFYs every event for
    serve's listener; `done` is sent by run() with the result, after the media are at the server."""

    def __init__(self, settings: Settings, job: Job) -> None:
        self._settings = settings
        self._job = job
        self._conn = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RenderStarted) and event.execution_id and event.execution_id != self._job.execution_id:
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
        self._send({"event": "done", "success": success, "output_path": (result or {}).get("output_path"), "error": error, **({"result": result} if result else {})})
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
