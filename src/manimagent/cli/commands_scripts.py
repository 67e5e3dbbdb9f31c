"""`manimagent scripts ...`: stored scripts — list, show, import, export, execute, remove (locally or with
--server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from manimagent.cli.backend import backend_for
from manimagent.cli.look import OpenOption, PreviewOption, open_video, print_preview, with_preview
from manimagent.cli.options import (
    LIST_LIMIT,
    AllOption,
    ContainerOption,
    EngineOption,
    FormatOption,
    JsonOption,
    LimitOption,
    MaxAttemptsOption,
    NoCacheOption,
    OutputPathOption,
    PartialOption,
    QualityOption,
    ServerOption,
    StillSecondsOption,
    list_limit,
    newest_ref,
    render_choices,
)
from manimagent.cli.output import output
from manimagent.cli.results import print_execute_result

if TYPE_CHECKING:
    from manimagent.backends.protocols import Backend

app = typer.Typer(
    help="Stored scripts: list, show, import, export, execute, generate, refine, remove.",
    no_args_is_help=True,
)
IdArgument = Annotated[
    str, typer.Argument(help="Script id (a unique prefix of 4+ characters works, or `last`).")
]


def _video(script_id: str, backend: Backend) -> str | None:
    """The video of the script's newest successful render."""
    rows = backend.executions.list_executions(script_ref=script_id)
    done = [row for row in rows if row.is_successful and row.output_path]
    return done[0].output_path if done else None


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="Only scripts with this status.")] = None,
    limit: LimitOption = LIST_LIMIT,
    all_: AllOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Scripts, newest first (the newest 50 unless --limit or --all)."""
    rows = backend_for(server).scripts.list_scripts(status=status, limit=list_limit(limit, all_))
    if json_:
        return output.json(rows)
    output.table(
        ["id", "status", "scenes", "provider", "created", "prompt"],
        [
            (
                row.id[:8],
                row.status,
                ", ".join(row.scenes),
                row.provider or "-",
                f"{row.created_at:%Y-%m-%d %H:%M}",
                _short(row.prompt),
            )
            for row in rows
        ],
    )


@app.command("show")
def show(
    ref: IdArgument,
    code: Annotated[bool, typer.Option("--code", help="Print only the code.")] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """One script: prompt, status, provider, scenes, executions, its video (and its code)."""
    backend = backend_for(server)
    script = backend.scripts.get_script(ref=newest_ref(ref, backend, "script"))
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
            ("video", _video(script.id, backend) or "-"),
            ("error", script.error or "-"),
        ]
    )


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="A Manim script (.py).")],
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Store FILE as a script without rendering it (with --server: upload it)."""
    script = backend_for(server).scripts.import_script(path=file)
    if json_:
        return output.json(script)
    output.line(script.id)


@app.command("export")
def export(
    ref: IdArgument,
    output_file: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    server: ServerOption = None,
) -> None:
    """The script's code, on stdout or into a file."""
    backend = backend_for(server)
    text = backend.scripts.export_script(ref=newest_ref(ref, backend, "script"), output=output_file)
    if output_file:
        output.info(f"Wrote {text}")
    else:
        output.raw(text if text.endswith("\n") else text + "\n")


@app.command("execute")
def execute(
    ref: IdArgument,
    scene: Annotated[
        list[str] | None, typer.Option("--scene", "-s", help="Scene to render; repeat for several.")
    ] = None,
    engine: EngineOption = None,
    container: ContainerOption = None,
    quality: QualityOption = None,
    format: FormatOption = None,
    still_seconds: StillSecondsOption = None,
    max_attempts: MaxAttemptsOption = None,
    no_cache: NoCacheOption = False,
    partial: PartialOption = False,
    output_path: OutputPathOption = None,
    open_: OpenOption = False,
    preview: PreviewOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Render a stored script, repairing failures up to --max-attempts (default 3). With --server, -o
    downloads the video."""
    from manimagent.cli.progress import drawing_events

    choices = render_choices(
        engine=engine,
        container=container,
        quality=quality,
        format=format,
        max_attempts=max_attempts,
        still_seconds=still_seconds,
        no_cache=no_cache,
        partial=partial,
    )
    with drawing_events(json_=json_) as events:
        backend = backend_for(server, events)
        result = backend.render.execute_script(
            ref=newest_ref(ref, backend, "script"), scenes=scene, output=output_path, **choices
        )
    result = with_preview(result, preview)
    print_execute_result(result, json_=json_)
    print_preview(result, json_=json_)
    open_video(result, open_)


@app.command("rm")
def remove(
    ref: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
) -> None:
    """Delete a script with its executions and videos."""
    from manimagent.errors import BadInput

    scripts = backend_for(server).scripts
    script = scripts.get_script(ref=ref)
    if not yes:
        if not output.err.is_terminal:
            raise BadInput("refusing to delete without confirmation", hint="Pass --yes")
        typer.confirm(
            f"Delete script {script.id[:8]} ({_short(script.prompt)}) and its videos?", abort=True, err=True
        )
    scripts.remove_script(ref=script.id)
    output.info(f"Deleted script {script.id}")


def _short(text: str, width: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
