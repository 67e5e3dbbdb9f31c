"""`manimagent config show|path`: the effective settings and where files live."""

from __future__ import annotations

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output

app = typer.Typer(help="Show settings and file locations.", no_args_is_help=True)


@app.command("show")
def show(json_: JsonOption = False) -> None:
    """Each effective setting and where it came from (default, config.toml, env)."""
    from manimagent.services.config import show_config

    rows = show_config()
    if json_:
        return output.json(rows)
    output.table(
        ["setting", "config.toml key", "env", "value", "source"],
        [(row.name, row.key or "-", row.env or "-", row.value, row.source) for row in rows],
    )


@app.command("path")
def path(json_: JsonOption = False) -> None:
    """Where the config file, database, media and outbox are."""
    from manimagent.services.config import config_paths

    paths = config_paths()
    if json_:
        return output.json(paths)
    output.fields(paths.items())
