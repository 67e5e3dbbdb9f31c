"""`manimagent scripts ...`: stored scripts — list, show, import, export, execute, remove."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from manimagent.cli.options import (
    ContainerOption,
    EngineOption,
    FormatOption,
    JsonOption,
    MaxAttemptsOption,
    OutputPathOption,
    QualityOption,
)
from manimagent.cli.output import output
from manimagent.cli.results import print_execute_result

app = typer.Typer(help="Stored scripts: list, show, import, export, execute, generate, refine, remove.", no_args_is_help=True)
IdArgument = Annotated[str, typer.Argument(help="Script id (a unique prefix of 4+ characters works).")]


def _ctx(events=None):
    from manimagent.services.context import local_context

    return local_context(events=events) if events else local_context()


@app.command("list")
def list_(
    status: Annotated[Optional[str], typer.Option("--status", help="Only scripts with this status.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="At most N scripts, newest first.")] = None,
    json_: JsonOption = False,
) -> None:
    """Scripts, newest first."""
    from manimagent.services.scripts import list_scripts

    rows = list_scripts(_ctx(), status=status, limit=limit)
    if json_:
        return output.json(rows)
    output.table(
        ["id", "status", "scenes", "provider", "created", "prompt"],
        [(row.id[:8], row.status, ", ".join(row.scenes), row.provider or "-", f"{row.created_at:%Y-%m-%d %H:%M}", _short(row.prompt)) for row in rows],
    )


@app.command("show")
def show(
    ref: IdArgument,
    code: Annotated[bool, typer.Option("--code", help="Print only the code.")] = False,
    json_: JsonOption = False,
) -> None:
    """One script: prompt, status, provider, scenes, executions (and its code)."""
    from manimagent.services.scripts import get_script

    script = get_script(_ctx(), ref=ref)
    if json_:
        return output.json(script)
    if code:
        return output.raw(script.content if script.content.endswith("\n") else script.content + "\n")
    output.fields(
        [
            ("id", script.id),
            ("prompt", script.prompt),
            ("status", script.status),
            ("scenes", ", ".join(script.scenes)),
            ("provider", f"{script.provider or '-'} {script.model or ''}".strip()),
            ("parent", script.parent or "-"),
            ("tokens", script.total_tokens),
            ("executions", ", ".join(item[:8] for item in script.executions) or "-"),
            ("error", script.error or "-"),
        ]
    )


@app.command("import")
def import_(file: Annotated[str, typer.Argument(help="A Manim script (.py).")], json_: JsonOption = False) -> None:
    """Store FILE as a script without rendering it."""
    from manimagent.services.scripts import import_script

    script = import_script(_ctx(), path=file)
    if json_:
        return output.json(script)
    output.line(script.id)


@app.command("export")
def export(
    ref: IdArgument,
    output_file: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """The script's code, on stdout or into a file."""
    from manimagent.services.scripts import export_script

    text = export_script(_ctx(), ref=ref, output=output_file)
    if output_file:
        output.info(f"Wrote {text}")
    else:
        output.raw(text if text.endswith("\n") else text + "\n")


@app.command("execute")
def execute(
    ref: IdArgument,
    scene: Annotated[Optional[list[str]], typer.Option("--scene", "-s", help="Scene to render; repeat for several.")] = None,
    engine: EngineOption = None,
    container: ContainerOption = None,
    quality: QualityOption = None,
    format: FormatOption = None,
    max_attempts: MaxAttemptsOption = None,
    output_path: OutputPathOption = None,
    json_: JsonOption = False,
) -> None:
    """Render a stored script, repairing failures up to --max-attempts (default 3)."""
    from manimagent.cli.progress import EventPrinter
    from manimagent.services.render import execute_script

    printer = EventPrinter(stream_code=not json_)
    try:
        result = execute_script(
            _ctx(printer),
            ref=ref,
            scenes=scene,
            engine=engine,
            container=container,
            quality=quality.value if quality else None,
            format=format.value if format else None,
            max_attempts=max_attempts,
            output=output_path,
        )
    finally:
        printer.close()
    print_execute_result(result, json_=json_)


@app.command("rm")
def remove(
    ref: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a script with its executions and videos."""
    from manimagent.errors import BadInput
    from manimagent.services.scripts import get_script, remove_script

    ctx = _ctx()
    script = get_script(ctx, ref=ref)
    if not yes:
        if not output.err.is_terminal:
            raise BadInput("refusing to delete without confirmation", hint="Pass --yes")
        typer.confirm(f"Delete script {script.id[:8]} ({_short(script.prompt)}) and its videos?", abort=True, err=True)
    remove_script(ctx, ref=script.id)
    output.info(f"Deleted script {script.id}")


def _short(text: str, width: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
