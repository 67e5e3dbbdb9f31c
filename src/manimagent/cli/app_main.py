"""The Typer application and its command groups, each defined in its own module."""

from __future__ import annotations

import typer

from manimagent import __version__

app = typer.Typer(
    name="manimagent",
    help="Turn a sentence into a rendered Manim video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"manimagent {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Turn a sentence into a rendered Manim video.

    Set MANIMAGENT_DEBUG=1 for a full traceback on errors.
    """


def _register() -> None:
    from manimagent.cli import commands_config, commands_doctor, commands_executions, commands_render, commands_scripts

    commands_render.register(app)
    app.add_typer(commands_scripts.app, name="scripts")
    app.add_typer(commands_executions.app, name="executions")
    app.add_typer(commands_config.app, name="config")
    commands_doctor.register(app)
    for module_name, group in OPTIONAL_GROUPS:
        _add_if_present(module_name, group)


# Command groups built in their own issues; each module exposes `app` (a group) or `register(app)`.
OPTIONAL_GROUPS: tuple[tuple[str, str | None], ...] = (
    ("manimagent.cli.commands_generate", None),
    ("manimagent.cli.commands_providers", "providers"),
    ("manimagent.cli.commands_containers", "containers"),
    ("manimagent.cli.commands_auth", "auth"),
    ("manimagent.cli.commands_serve", None),
)


def _add_if_present(module_name: str, group: str | None) -> None:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    if group is None:
        module.register(app)
    else:
        app.add_typer(module.app, name=group)


_register()
