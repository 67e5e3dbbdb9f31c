"""`manimagent worker` (render queued jobs) and `manimagent workers add|list` (the register):
the job queue of `serve` on PostgreSQL (server/queue_worker.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output
from manimagent.errors import ConfigError
from manimagent.settings import SERVER_ENV, WORKER_TOKEN_ENV

workers_app = typer.Typer(
    help="Render workers of the job queue: add (prints the token once), list.", no_args_is_help=True
)
POSTGRES_HINT = (
    "Set MANIMAGENT_DATABASE_URL=postgresql+psycopg://... to the database of `serve` (see docs/deploy.md)"
)


def _queue_settings():
    from manimagent.context import local_context
    from manimagent.store.jobqueue import is_postgres

    settings = local_context().settings
    if not is_postgres(settings.database_url_effective):
        raise ConfigError("the job queue needs the PostgreSQL database of serve", hint=POSTGRES_HINT)
    return settings


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Renders at once.")
    ] = 1,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", "-q", help="Queue to take jobs from: local or docker (repeat; default both)."
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar=SERVER_ENV,
            show_envvar=True,
            help=f"URL of the serve that gets the media (env {SERVER_ENV}).",
        ),
    ] = None,
) -> None:
    """Render jobs that `serve` queued, until Ctrl-C. Needs MANIMAGENT_DATABASE_URL (PostgreSQL), the
    server's URL, and the token of `manimagent workers add` in MANIMAGENT_WORKER_TOKEN."""
    from manimagent.server.queue import QUEUES, queue_for
    from manimagent.server.queue_worker import WorkerPlan, run_worker
    from manimagent.settings import normalize_server

    settings = _queue_settings()
    if not server:
        raise ConfigError(
            "the worker needs the URL of its serve",
            hint=f"Set {SERVER_ENV} or pass --server http://HOST:PORT",
        )
    if not settings.worker_token:
        raise ConfigError(
            "the worker needs its token",
            hint=f"Set {WORKER_TOKEN_ENV} to the token `manimagent workers add NAME` printed",
        )
    queues = [queue_for(name) for name in (queue or QUEUES)]
    plan = WorkerPlan(
        server=normalize_server(server), token=settings.worker_token, concurrency=concurrency, queues=queues
    )
    output.info(f"manimagent worker: {concurrency} at once from {', '.join(queues)}, media to {plan.server}")
    run_worker(settings, plan)


@workers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the worker (letters, digits, - _ .).")],
    json_: JsonOption = False,
) -> None:
    """Register a worker; its token is printed once (set it as MANIMAGENT_WORKER_TOKEN on the worker)."""
    from manimagent.server.queue_worker import add_worker

    made = add_worker(_queue_settings(), name=name)
    if json_:
        return output.json(made)
    output.line(made["token"])
    output.info(
        f"Added worker {made['name']}: start it with {WORKER_TOKEN_ENV}=<the token above> manimagent worker"
    )


@workers_app.command("list")
def list_(json_: JsonOption = False) -> None:
    """Every worker: host, queues, last heartbeat, renders running now."""
    from manimagent.server.queue_worker import list_workers

    rows = list_workers(_queue_settings())
    if json_:
        return output.json(rows)
    output.table(
        ["name", "host", "queues", "last heartbeat", "running"],
        [
            (row.name, row.host or "-", ", ".join(row.queues) or "-", _ago(row.last_heartbeat), row.running)
            for row in rows
        ],
    )


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{moment:%Y-%m-%d %H:%M}"


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(workers_app, name="workers")
