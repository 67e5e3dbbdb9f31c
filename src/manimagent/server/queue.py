"""Renders on a procrastinate job queue when the store is PostgreSQL (SQLite keeps server/render_threads.py).

`serve` defers each render as a job on the queue of its engine (`local`, `docker`); `manimagent
worker` processes anywhere take them (server/queue_worker.py). The Execution row stays the
user-facing record: the job's first attempt takes over the row queued at defer time, the worker
that ran it is in `worker`, and the job's result document in `result` for a server that waits.
Progress goes through the database (LISTEN/NOTIFY on CHANNEL) into serve's event log, so SSE
works whichever worker renders.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from manimagent.errors import BadInput, ConfigError
from manimagent.settings import Settings
from manimagent.store import jobqueue
from manimagent.store.jobqueue import is_postgres
from manimagent.store.models import Execution, ExecutionStatus

log = logging.getLogger("manimagent.server")
TASK_NAME = "manimagent.render"
QUEUES = ("local", "docker")
CHANNEL = "manimagent_events"
DEFER_TRIES = 3
NOT_TAKEN: dict[str, Any] = {"not_taken": True}
SCHEMA_LOCK = 0x6D616E6971  # pg_advisory_lock key of applying procrastinate's schema


def queue_enabled(settings: Settings) -> bool:
    """The job queue is used when the store is PostgreSQL."""
    return is_postgres(settings.database_url_effective)


def conninfo(settings: Settings) -> str:
    return jobqueue.conninfo(settings.database_url_effective)


def queue_for(engine: str | None) -> str:
    name = engine or "local"
    if name not in QUEUES:
        raise BadInput(f"unknown engine {name!r}", hint=f"Use one of {', '.join(QUEUES)}")
    return name


# ---- the procrastinate app -----------------------------------------------------------------------


def build_app(settings: Settings, run_job: Any = None):
    """A procrastinate App on the store with the render task; `run_job(context, **args)` is the
    task body on a worker (None on the server, which only defers and cancels)."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings)))

    def render(context, **args: Any) -> None:
        if run_job is None:
            raise RuntimeError("this process only defers renders")
        run_job(context, **args)

    app.task(name=TASK_NAME, pass_context=True, queue="local")(render)
    return app


def ensure_schema(settings: Settings) -> None:
    """Create procrastinate's tables once per database (under an advisory lock: several servers
    and workers may start at once)."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            found = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if not (found and found[0]):
                conn.execute(SchemaManager.get_schema())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


async def defer_render(
    app,
    settings: Settings,
    *,
    execution_id: str,
    action: str,
    options: dict[str, Any],
    user_id: int | None,
    is_admin: bool,
) -> int:
    """Defer the job of a queued Execution row and note its id on the row; returns the job id.

    A connection the pool kept from before a database restart fails once: the defer is tried
    again; a database still away fails the row and is a ConfigError (503)."""
    import asyncio

    from procrastinate.exceptions import ConnectorException

    job = app.tasks[TASK_NAME].configure(queue=queue_for(options.get("engine")))
    args = {
        "execution_id": execution_id,
        "action": action,
        "options": options,
        "user_id": user_id,
        "is_admin": is_admin,
    }
    for attempt in range(DEFER_TRIES):
        try:
            job_id = await job.defer_async(**args)
            break
        except ConnectorException as exc:
            if attempt + 1 < DEFER_TRIES:
                await asyncio.sleep(0.5)
                continue
            from manimagent.services.executions import fail_queued

            reason = " ".join(str(exc.__cause__ or exc).split())[:300]
            await asyncio.to_thread(
                _quietly,
                fail_queued,
                settings_context(settings),
                execution_id,
                f"the job queue was unreachable: {reason}",
            )
            raise ConfigError(
                f"cannot reach the job queue's database ({reason})",
                hint="Start PostgreSQL (or wait for it to come back), then queue the render again",
            ) from None
    await asyncio.to_thread(_note_job, settings, execution_id, job_id)
    return job_id


def settings_context(settings: Settings):
    from manimagent.context import Context

    return Context(settings=settings, is_admin=True)


def _quietly(fn, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the same database is likely away: the row stays queued, never started
        pass


def _note_job(settings: Settings, execution_id: str, job_id: int) -> None:
    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        row = session.get(Execution, execution_id)
        if row is not None and row.job_id is None:
            row.job_id = job_id
            session.add(row)
            session.commit()


# ---- waiting for a job ---------------------------------------------------------------------------


async def wait_for_result(
    settings: Settings, execution_id: str, *, poll: float = 0.5
) -> dict[str, Any] | None:
    """The result document a worker left on the row, once its job is over; None when it ended
    without one; NOT_TAKEN when no worker has taken the job within `server.queue_wait_seconds`
    (it stays queued: the caller answers 202 and the client polls)."""
    import asyncio
    import time

    deadline = time.monotonic() + settings.queue_wait_seconds
    while True:
        row = await asyncio.to_thread(_read_row, settings, execution_id)
        if row is None:
            return None
        if row.result is not None:
            return row.result
        if row.status == ExecutionStatus.QUEUED.value and time.monotonic() > deadline:
            return NOT_TAKEN
        if (
            row.status not in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)
            and row.job_id is not None
        ):
            if await asyncio.to_thread(jobqueue.job_over, settings.database_url_effective, row.job_id):
                return None
        await asyncio.sleep(poll)


def _read_row(settings: Settings, execution_id: str) -> Execution | None:
    from manimagent.store.db import open_session

    with open_session(settings.database_url_effective) as session:
        return session.get(Execution, execution_id)


# ---- progress through the database ---------------------------------------------------------------


def notify_event(conn, stream: str, doc: dict[str, Any]) -> None:
    """Send one event of the job whose log is `stream` (its first execution id) to every server."""
    payload = json.dumps({"stream": stream, "event": doc}, default=str)
    if len(payload.encode()) > 7900:  # NOTIFY carries at most 8000 bytes
        doc = {key: value for key, value in doc.items() if key != "result"}
        payload = json.dumps({"stream": stream, "event": doc}, default=str)
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


class EventListener:
    """serve's LISTEN on CHANNEL: each worker's events appended to this home's event log
    (server/eventlog.py's files), so GET .../events/ streams them. Reconnects when the database
    comes back."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="manimagent-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - the database went away: listen again when it is back
                log.warning("event listener: %s; listening again in 2 s", " ".join(str(exc).split()))
                self._stop.wait(2)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(conninfo(self._settings), autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    self._record(json.loads(note.payload))

    def _record(self, message: dict[str, Any]) -> None:
        from manimagent.server.eventlog import ALIAS_SUFFIX, log_folder

        stream, doc = str(message["stream"]), message["event"]
        folder = log_folder(self._settings)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            execution = doc.get("execution_id")
            if doc.get("event") == "render_started" and execution and execution != stream:
                (folder / f"{execution}{ALIAS_SUFFIX}").write_text(stream, encoding="utf-8")
            with open(folder / f"{stream}.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(doc, default=str) + "\n")
        except OSError:
            pass  # progress is a convenience


# ---- serve on the queue ---------------------------------------------------------------------------


async def _background_pool(settings: Settings):
    """procrastinate's connection pool for serve, connecting in the background (and again after
    the database comes back) instead of holding up the start."""
    from psycopg_pool import AsyncConnectionPool

    # `check`: a connection from before a database restart is replaced before it is used
    pool = AsyncConnectionPool(
        conninfo(settings), open=False, min_size=1, max_size=10, check=AsyncConnectionPool.check_connection
    )
    await pool.open(wait=False)
    return pool


@asynccontextmanager
async def serving_queue(app) -> AsyncIterator[None]:
    """serve's lifespan on PostgreSQL: procrastinate's tables, the app to defer on, the event
    listener and the sweep. Queued jobs are left alone at start and stop: workers take them."""
    import asyncio

    from manimagent.context import Context
    from manimagent.server.sweep import Sweeper

    settings = app.state.settings
    try:
        await asyncio.to_thread(ensure_schema, settings)
    except Exception as exc:  # noqa: BLE001 - the database may come back: requests say so meanwhile (503)
        from manimagent.store.db import store_fault

        fault = store_fault(exc, settings.database_url_effective)
        log.error(
            "the store cannot be used: %s", fault.one_line() if fault else f"{type(exc).__name__}: {exc}"
        )
    queue = build_app(settings)
    pool = await _background_pool(settings)
    await queue.open_async(pool)  # serve starts even while the database is away
    app.state.queue = queue
    listener = EventListener(settings)
    listener.start()
    sweeper = Sweeper(Context(settings=settings, is_admin=True), interval=settings.sweep_seconds)
    sweeper.start()
    try:
        yield
    finally:
        sweeper.stop()
        listener.stop()
        app.state.render_threads.shutdown()
        await queue.close_async()
        await pool.close()
