"""`manimagent executions ...`: render attempts — list, show (with the log), retry (locally or with
--server)."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.cli.backend import backend_for
from manimagent.cli.options import (
    LIST_LIMIT,
    AllOption,
    ContainerOption,
    EngineOption,
    JsonOption,
    LimitOption,
    MaxAttemptsOption,
    ServerOption,
    list_limit,
    newest_ref,
)
from manimagent.cli.output import output
from manimagent.cli.results import print_execute_result

app = typer.Typer(help="Render attempts: list, show, retry, cancel.", no_args_is_help=True)
IdArgumentHelp = "Execution id (a unique prefix of 4+ characters works, or `last`)."


def _when(row) -> str:
    moment = row.started_at or row.created_at
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def _short(text: str | None, width: int = 40) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_(
    script: Annotated[
        str | None, typer.Option("--script", help="Only the executions of this script.")
    ] = None,
    limit: LimitOption = LIST_LIMIT,
    all_: AllOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Executions, newest first (the newest 50 unless --limit or --all)."""
    rows = backend_for(server).executions.list_executions(script_ref=script, limit=list_limit(limit, all_))
    if json_:
        return output.json(rows)
    output.table(
        ["id", "script", "started", "prompt", "attempt", "status", "engine", "output / error"],
        [
            (
                row.id[:8],
                row.script[:8],
                _when(row),
                _short(row.prompt),
                row.attempt_number,
                row.status,
                row.engine,
                row.output_path or row.error or "",
            )
            for row in rows
        ],
    )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help=IdArgumentHelp)],
    log: Annotated[bool, typer.Option("--log", help="Print the render log too.")] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """One execution: status, engine, timings, output and its poster, error."""
    backend = backend_for(server)
    row = backend.executions.get_execution(ref=newest_ref(ref, backend, "execution"))
    if json_:
        return output.json(row if log else row.model_copy(update={"log": ""}))
    output.fields(
        [
            ("id", row.id),
            ("script", row.script),
            ("started", _when(row)),
            ("attempt", row.attempt_number),
            ("status", row.status),
            ("engine", f"{row.engine} {row.container or ''}".strip()),
            ("quality/format", f"{row.quality}/{row.format}"),
            ("scenes", ", ".join(row.scenes)),
            ("output", row.output_path or "-"),
            ("poster", row.poster_path or "-"),
            ("error", row.error or "-"),
            ("fixes", "; ".join(fix.get("description", "") for fix in row.fixes) or "-"),
            ("layout", _layout_lines(row.layout)),
            ("duration", f"{row.duration:.2f} s" if row.duration else "-"),
        ]
    )
    if log:
        output.line(row.log)


def _layout_lines(rows: list[dict]) -> str:
    from manimagent.render.layout import findings_from_rows

    return "".join(f"\n  {finding.describe()}" for finding in findings_from_rows(rows)) or "-"


@app.command("retry")
def retry(
    ref: Annotated[str, typer.Argument(help="Execution id to run again (or `last`).")],
    engine: EngineOption = None,
    container: ContainerOption = None,
    max_attempts: MaxAttemptsOption = None,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Render the execution's script again with the same settings (a new execution)."""
    from manimagent.cli.progress import drawing_events

    with drawing_events(json_=json_) as events:
        backend = backend_for(server, events)
        result = backend.executions.retry_execution(
            ref=newest_ref(ref, backend, "execution"),
            engine=engine,
            container=container,
            max_attempts=max_attempts,
        )
    print_execute_result(result, json_=json_)


@app.command("cancel")
def cancel(
    ref: Annotated[str, typer.Argument(help="Execution id to stop (or `last`).")],
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Stop a queued or running render of the job queue (serve on PostgreSQL with `manimagent worker`s)."""
    backend = backend_for(server)
    result = backend.executions.cancel_execution(ref=newest_ref(ref, backend, "execution"))
    if json_:
        return output.json(result)
    output.info(
        f"{'Cancelled' if result.success else 'Nothing to cancel:'} {result.execution_id[:8]} "
        f"({result.status})"
    )
