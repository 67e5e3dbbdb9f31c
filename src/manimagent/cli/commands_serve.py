"""`manimagent serve`: the REST API on uvicorn (needs the `serve` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.errors import ConfigError

SERVE_EXTRA_HINT = "Install the server extra: pip install 'manimagent[serve]'"


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API (docs at /docs). State, mail and the secret come from MANIMAGENT_HOME and config.toml."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"`serve` needs {', '.join(missing)}", hint=SERVE_EXTRA_HINT)
    import uvicorn
    from manimagent.cli.output import output

    output.info(f"manimagent serving on http://{host}:{port}/ (API docs: http://{host}:{port}/docs)")
    uvicorn.run("manimagent.server.app:create_app", factory=True, host=host, port=port, log_level="info", proxy_headers=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
