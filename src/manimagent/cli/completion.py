"""`manimagent --show-completion` / `--install-completion`: tab completion for bash, zsh and fish
(and PowerShell), in the shell this runs from (found by shellingham, else $SHELL).

The scripts, their installation and the completion itself are Typer's (`_MANIMAGENT_COMPLETE`);
this module picks the shell and reports a failure the CLI's way: one `Error:` line, exit 3.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

PROG_NAME = "manimagent"
COMPLETE_VAR = "_MANIMAGENT_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def enable() -> None:
    """Answer the completion requests the scripts send (`_MANIMAGENT_COMPLETE=complete_bash ...`)."""
    from typer.completion import completion_init

    completion_init()


def current_shell() -> str:
    """The shell this process runs from; ConfigError for one completion does not support."""
    from manimagent.errors import ConfigError

    name = _detected_shell() or Path(os.environ.get("SHELL", "")).name.lower()
    if name not in SHELLS:
        found = f"the shell here is {name}" if name else "no shell was found"
        raise ConfigError(
            f"completion works in {', '.join(SHELLS[:3])} and PowerShell; {found}",
            hint="Run this from one of those shells",
        )
    return name


def _detected_shell() -> str | None:
    import shellingham

    try:
        name, _path = shellingham.detect_shell()
    except (shellingham.ShellDetectionFailure, OSError, RuntimeError):
        return None
    return str(name).lower()


def completion_script(shell: str) -> str:
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell)


def show(value: bool) -> None:
    """--show-completion: print the script for this shell (to copy, or to `eval`)."""
    if value:
        typer.echo(completion_script(current_shell()))
        raise typer.Exit()


def install(value: bool) -> None:
    """--install-completion: put the script where this shell loads it from, and say where."""
    if not value:
        return
    from typer.completion import install as install_script

    from manimagent.cli.output import output

    shell = current_shell()
    try:
        _shell, path = install_script(shell=shell, prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
    except OSError as exc:
        from manimagent.errors import ConfigError

        raise ConfigError(
            f"cannot install {shell} completion: {exc.strerror or exc}", hint="Make your home folder writable"
        ) from None
    output.success(f"{shell} completion installed in {path}")
    output.info("It takes effect in a new terminal.")
    raise typer.Exit()
