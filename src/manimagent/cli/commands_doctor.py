"""`manimagent doctor`: what this machine can render, and how to fix what is missing."""

from __future__ import annotations

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(json_: JsonOption = False) -> None:
    """Check manim, cairo/pango, LaTeX, video, Docker, the keyring and the home folder."""
    from manimagent.errors import ExitCode
    from manimagent.services.doctor import run_doctor

    report = run_doctor()
    if json_:
        output.json(report)
    else:
        width = max(len(check.name) for check in report.checks)
        for check in report.checks:
            word, colour = (
                ("ok", "green")
                if check.ok
                else (("missing", "red") if check.required else ("warning", "yellow"))
            )
            mark = f"[{colour}]{word:<7}[/{colour}]"  # padded before colouring, so the columns line up
            output.print(f"{mark}  [bold]{_escape(check.name.ljust(width))}[/bold]  {_escape(check.detail)}")
            if check.fix and not check.ok:
                output.print(f"{'':7}  {'fix:'.ljust(width)}  {_escape(check.fix)}")
    if not report.ok:
        raise typer.Exit(int(ExitCode.ENVIRONMENT))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
