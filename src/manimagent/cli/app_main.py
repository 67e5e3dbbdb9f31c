"""The Typer application and its command groups, each defined in its own module."""

from __future__ import annotations

import typer

from manimagent import __version__
from manimagent.cli import completion

app = typer.Typer(
    name="manimagent",
    help="Turn a sentence into a rendered Manim video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,  # ours: cli/completion.py (the CLI's own errors and exit codes)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _flags_without_type() -> None:
    """A flag takes no value, so its help shows no type: Typer's rich help prints `<bool>` after
    every flag (TyperOption.display_type_rich), and this drops it, once, for every command."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "drops_flag_types", False):  # a Typer without the column, or done
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.drops_flag_types = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_type()
completion.enable()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"manimagent {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    install_completion: bool = typer.Option(
        False,
        "--install-completion",
        callback=completion.install,
        expose_value=False,
        help="Install tab completion for this shell (bash, zsh, fish or PowerShell).",
    ),
    show_completion: bool = typer.Option(
        False,
        "--show-completion",
        callback=completion.show,
        expose_value=False,
        help="Print the completion script for this shell, to copy or eval.",
    ),
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
        commands_watch,
        commands_worker,
    )

    commands_generate.register(app)
    commands_render.register(app)
    commands_watch.register(app)
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
