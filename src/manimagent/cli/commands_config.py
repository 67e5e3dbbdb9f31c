"""`manimagent config show|path|set|unset`: the effective settings, where files live, and editing
config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output

app = typer.Typer(help="Show and edit settings (config.toml), and where files live.", no_args_is_help=True)
KeyArgument = Annotated[
    str,
    typer.Argument(help="A config.toml key, e.g. render.quality (`config show` lists them).", metavar="KEY"),
]


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


@app.command("set")
def set_(
    key: KeyArgument,
    value: Annotated[
        str,
        typer.Argument(
            help=(
                "The value, checked as loading would check it (true/false, numbers, sizes like 4GiB, a "
                "choice)."
            ),
            metavar="VALUE",
        ),
    ],
    json_: JsonOption = False,
) -> None:
    """Write KEY = VALUE into config.toml (its comments and other keys stay)."""
    from manimagent.services.config import set_setting

    row = set_setting(key, value)
    if json_:
        return output.json(row)
    output.info(f"Set {row.key} in config.toml; now {_shown(row.value)} ({row.source})")
    _overridden(row)


@app.command("unset")
def unset(key: KeyArgument, json_: JsonOption = False) -> None:
    """Remove KEY from config.toml: the setting goes back to its default (or its env var)."""
    from manimagent.services.config import unset_setting

    row, was_set = unset_setting(key)
    if json_:
        return output.json(row)
    output.info(
        f"Removed {row.key} from config.toml; now {_shown(row.value)} ({row.source})"
        if was_set
        else f"{row.key} was not set in config.toml"
    )
    _overridden(row)


def _overridden(row) -> None:
    if row.source.startswith("env "):
        output.notice(f"{row.source[4:]} is set and overrides config.toml's {row.key}")


def _shown(value) -> str:
    import json

    return json.dumps(list(value) if isinstance(value, tuple) else value)
