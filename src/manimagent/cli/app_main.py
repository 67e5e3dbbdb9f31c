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
    from manimagent.cli import (
        commands_auth,
        commands_cache,
        commands_config,
        commands_containers,
        commands_doctor,
        commands_eval,
        commands_executions,
        commands_generate,
        commands_providers,
        commands_render,
        commands_scripts,
        commands_serve,
        commands_worker,
    )

    commands_generate.register(app)
    commands_render.register(app)
    app.add_typer(commands_scripts.app, name="scripts")
    app.add_typer(commands_executions.app, name="executions")
    app.add_typer(commands_providers.app, name="providers")
    app.add_typer(commands_containers.app, name="containers")
    app.add_typer(commands_auth.app, name="auth")
    commands_serve.register(app)
    commands_doctor.register(app)
    app.add_typer(commands_config.app, name="config")
    app.add_typer(commands_cache.app, name="cache")
    commands_eval.register(app)
    commands_worker.register(app)


_register()
