"""`manimagent serve`: the REST API on uvicorn (needs the `serve` extra)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from manimagent.errors import ConfigError
from manimagent.settings import SERVE_PROCESSES_ENV

SERVE_EXTRA_HINT = "Install the server extra: pip install 'manimagent[serve]'"


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; 0.0.0.0 for every interface.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="Server processes sharing the port (each with its own render pool of server.workers).",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (docs at /docs). State, mail and the secret come from MANIMAGENT_HOME and
    config.toml."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"`serve` needs {', '.join(missing)}", hint=SERVE_EXTRA_HINT)
    import uvicorn

    from manimagent.cli.output import output

    if workers > 1:
        _prepare_processes(workers)
    output.info(
        f"manimagent serving on http://{host}:{port}/ (API docs: http://{host}:{port}/docs)"
        + (f" with {workers} processes" if workers > 1 else "")
    )
    # X-Forwarded-* are handled by the app itself, from server.forwarded_allow_ips only
    uvicorn.run(
        "manimagent.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        workers=workers,
    )
    if workers > 1:
        _settle_queue()


def _prepare_processes(workers: int) -> None:
    """Before the processes fork: the store opened (migrated) and the secret made once, and the
    renders an earlier run left queued failed here, not by each process (they share the queue table)."""
    from manimagent.context import local_context
    from manimagent.services.auth import secret_key

    ctx = local_context()
    secret_key(ctx.settings)
    _settle_queue()
    os.environ[SERVE_PROCESSES_ENV] = str(workers)


def _settle_queue() -> None:
    from manimagent.context import local_context
    from manimagent.services.executions import fail_all_queued
    from manimagent.store.jobqueue import is_postgres

    ctx = local_context()
    if is_postgres(ctx.settings.database_url_effective):
        return  # PostgreSQL: queued renders are jobs that workers take, whatever serve does
    fail_all_queued(ctx)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
