"""`manimagent worker`: a procrastinate worker that renders queued jobs, each in its own process
(server/queue_job.py), and the workers' register (`workers add`, `workers list`).

The worker finds its name by showing its token (MANIMAGENT_WORKER_TOKEN) to the server, so a wrong
token stops it before it takes a job. It keeps a heartbeat on its Worker row, aborts a job's
process when the job is cancelled, and takes up jobs whose worker died (procrastinate's stalled
jobs: no heartbeat for STALLED_SECONDS) up to `render.max_retries` times.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from manimagent.errors import BadInput, ConfigError, Conflict, Unauthorized
from manimagent.settings import Settings
from manimagent.store.models import Execution, ExecutionStatus, Worker, utcnow

log = logging.getLogger("manimagent.worker")
TOKEN_PREFIX = "mw_"
HEARTBEAT_SECONDS = 5.0
STALLED_SECONDS = 30.0  # a worker silent this long (6 missed heartbeats) is dead: its jobs are taken up again
RECOVER_SECONDS = 5.0
RECONNECT_SECONDS = 3.0
ABORT_GRACE = 30.0  # seconds a cancelled job's process has to stop before it is killed
GAVE_UP = "its worker died {n} time(s) during the render (render.max_retries is {retries})"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- the register --------------------------------------------------------------------------------


def add_worker(settings: Settings, *, name: str) -> dict[str, str]:
    """A new worker: its name and token (shown once; only its hash is kept)."""
    from sqlmodel import select

    from manimagent.store.db import open_session

    name = name.strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise BadInput(
            f"worker name {name!r} must be 1-64 letters, digits, '-', '_' or '.'",
            hint="For example: render-1",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with open_session(settings.database_url_effective) as session:
        if session.exec(select(Worker).where(Worker.name == name)).first() is not None:
            raise Conflict(f"a worker named {name} exists", hint="Choose another name")
        session.add(Worker(name=name, token_hash=token_hash(token)))
        session.commit()
    return {"name": name, "token": token}


class WorkerPublic(BaseModel):
    """`workers list --json`: one worker, never its token."""

    name: str
    host: str | None = None
    queues: list[str] = []
    last_heartbeat: datetime | None = None
    running: int = 0
    created_at: datetime


def list_workers(settings: Settings) -> list[WorkerPublic]:
    """Every worker: name, host, queues, last heartbeat, and how many renders it runs now."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        rows = session.exec(select(Worker).order_by(col(Worker.name))).all()
        running = dict(
            session.exec(
                select(Execution.worker, func.count())
                .where(Execution.status == ExecutionStatus.RUNNING.value)
                .group_by(Execution.worker)
            ).all()
        )
    return [
        WorkerPublic(
            name=row.name,
            host=row.host,
            queues=row.queues,
            last_heartbeat=row.last_heartbeat,
            running=int(running.get(row.name, 0)),
            created_at=row.created_at,
        )
        for row in rows
    ]


def worker_for_token(settings: Settings, token: str) -> Worker:
    from sqlmodel import select

    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        row = session.exec(select(Worker).where(Worker.token_hash == token_hash(token))).first()
    if row is None:
        raise Unauthorized(
            "not a worker token of this server",
            hint="Make one with `manimagent workers add NAME` and set MANIMAGENT_WORKER_TOKEN",
        )
    return row


def _heartbeat(settings: Settings, name: str, queues: list[str]) -> None:
    from sqlmodel import select

    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        row = session.exec(select(Worker).where(Worker.name == name)).first()
        if row is not None:
            row.host, row.queues, row.last_heartbeat = socket.gethostname(), queues, utcnow()
            session.add(row)
            session.commit()


# ---- the worker ----------------------------------------------------------------------------------


@dataclass
class WorkerPlan:
    server: str
    token: str
    concurrency: int
    queues: list[str]


def introduce(plan: WorkerPlan) -> dict[str, Any]:
    """The server's answer to the token: {"name", "media_root"}; a refused token is Unauthorized."""
    request = urllib.request.Request(
        f"{plan.server}/api/workers/me/", headers={"Authorization": f"Bearer {plan.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise Unauthorized(
                f"the server {plan.server} refused the worker token",
                hint="Use the token `manimagent workers add NAME` printed (MANIMAGENT_WORKER_TOKEN)",
            ) from None
        raise ConfigError(
            f"the server {plan.server} answered {exc.code} to the worker", hint="Check MANIMAGENT_SERVER"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(
            f"cannot reach the server {plan.server} ({exc})",
            hint="Start `manimagent serve`, or fix MANIMAGENT_SERVER",
        ) from None


def run_worker(settings: Settings, plan: WorkerPlan) -> None:
    """Take and render jobs until SIGINT/SIGTERM (running jobs finish first, up to their limit)."""
    from manimagent.server.queue import ensure_schema

    me = introduce(plan)
    ensure_schema(settings)
    runner = JobRunner(settings, plan, me)
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(settings, me["name"], plan.queues, stop), daemon=True)
    beat.start()
    try:
        while not _work_until_the_database_fails(settings, plan, me["name"], runner):
            time.sleep(RECONNECT_SECONDS)
    finally:
        stop.set()


def _work_until_the_database_fails(
    settings: Settings, plan: WorkerPlan, name: str, runner: JobRunner
) -> bool:
    """One run of the worker: True when it stopped on a signal, False when the database went away
    (the worker then starts again once it can connect; jobs it held are taken up as stalled ones)."""
    import psycopg
    from procrastinate.exceptions import ConnectorException

    try:
        asyncio.run(_work(settings, plan, name, runner))
        return True
    except (ConnectorException, psycopg.Error, OSError) as exc:
        log.warning(
            "the job queue's database went away (%s); connecting again in %.0f s",
            " ".join(str(exc).split())[:200],
            RECONNECT_SECONDS,
        )
        return False


def _beat(settings: Settings, name: str, queues: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            _heartbeat(settings, name, queues)
        except Exception as exc:  # noqa: BLE001 - the database is away: beat again later
            log.warning("heartbeat: %s", " ".join(str(exc).split())[:200])
        stop.wait(HEARTBEAT_SECONDS)


async def _work(settings: Settings, plan: WorkerPlan, name: str, runner: JobRunner) -> None:
    from manimagent.server.queue import build_app

    app = build_app(settings, run_job=runner)
    async with app.open_async():
        recovery = asyncio.create_task(_recover_forever(app, settings))
        try:
            await app.run_worker_async(
                queues=plan.queues,
                concurrency=plan.concurrency,
                name=name,
                update_heartbeat_interval=HEARTBEAT_SECONDS,
                stalled_worker_timeout=STALLED_SECONDS,
                abort_job_polling_interval=1.0,
                fetch_job_polling_interval=2.0,
            )
        finally:
            recovery.cancel()


async def _recover_forever(app, settings: Settings) -> None:
    while True:
        try:
            await recover_stalled(app, settings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database is away: try again later
            log.warning("recovering stalled jobs: %s", " ".join(str(exc).split())[:200])
        await asyncio.sleep(RECOVER_SECONDS)


async def recover_stalled(app, settings: Settings) -> int:
    """Jobs held by a worker that stopped beating: back on the queue while they have retries
    left, otherwise failed with the reason on their row. Returns how many were taken up again."""
    from procrastinate.jobs import Status

    from manimagent.server.queue import TASK_NAME

    retries = settings.render_max_retries
    taken = 0
    for job in await app.job_manager.get_stalled_jobs(
        task_name=TASK_NAME, seconds_since_heartbeat=STALLED_SECONDS
    ):
        try:
            if job.attempts < retries:
                await app.job_manager.retry_job(job)
                taken += 1
            else:
                await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
                await asyncio.to_thread(
                    _give_up, settings, job.task_kwargs.get("execution_id"), job.attempts + 1, retries
                )
        except Exception as exc:  # noqa: BLE001 - another worker took it first
            log.info("stalled job %s: %s", job.id, exc)
    return taken


def _give_up(settings: Settings, execution_id: str | None, deaths: int, retries: int) -> None:
    from manimagent.store.db import open_session

    if not execution_id:
        return
    with open_session(settings.database_url_effective) as session:
        first = session.get(Execution, execution_id)
        rows = [first] if first is not None else []
        if first is not None:
            from sqlmodel import select

            rows += session.exec(
                select(Execution).where(
                    Execution.script_id == first.script_id, Execution.status == ExecutionStatus.RUNNING.value
                )
            ).all()
        for row in {row.id: row for row in rows}.values():
            if row.status in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value):
                row.finish(ExecutionStatus.FAILED, GAVE_UP.format(n=deaths, retries=retries))
                session.add(row)
        if first is not None and first.result is None:
            first.result = {
                "success": False,
                "status": "failed",
                "script_id": first.script_id,
                "error": GAVE_UP.format(n=deaths, retries=retries),
            }
            session.add(first)
        session.commit()


class JobRunner:
    """The body of the render task: the job's own process, aborted on cancel."""

    def __init__(self, settings: Settings, plan: WorkerPlan, me: dict[str, Any]) -> None:
        self._settings = settings
        self._plan = plan
        self._me = me

    def __call__(
        self,
        context,
        *,
        execution_id: str,
        action: str,
        options: dict[str, Any],
        user_id: int | None,
        is_admin: bool,
    ) -> None:
        from procrastinate.exceptions import JobAborted

        job = {
            "execution_id": execution_id,
            "action": action,
            "options": options,
            "user_id": user_id,
            "is_admin": is_admin,
            "worker": self._me["name"],
            "server": self._plan.server,
            "token": self._plan.token,
            "media_root": self._me["media_root"],
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "manimagent.server.queue_job"],
            stdin=subprocess.PIPE,
            env=_job_env(),
            preexec_fn=_die_with_worker,
        )
        assert process.stdin is not None  # stdin=PIPE
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
        if _wait(process, context):
            raise JobAborted()
        if process.returncode not in (0, 130):
            raise RuntimeError(f"the job's process exited with {process.returncode}")


def _wait(process: subprocess.Popen, context) -> bool:
    """Wait for the job's process; True when the job was cancelled (the process is stopped then)."""
    while True:
        try:
            process.wait(timeout=0.5)
            return False
        except subprocess.TimeoutExpired:
            pass
        if context.should_abort():
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=ABORT_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return True


def _job_env() -> dict[str, str]:
    from manimagent.settings import WORKER_TOKEN_ENV

    return {name: value for name, value in os.environ.items() if name != WORKER_TOKEN_ENV}


def _die_with_worker() -> None:
    """The job's process (and so its render) ends with a worker that is killed (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
