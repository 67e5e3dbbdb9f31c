"""The batch forms of `render` (several files, a folder, a pattern) and `generate --from FILE`:
parse, call `services.batch`, print one array (--json), a stream (--jsonl) or the videos' paths."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from manimagent.cli.output import output

if TYPE_CHECKING:
    from manimagent.backends.protocols import RenderChoices

JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=64,
        help=(
            "Items rendered at the same time, for several files or --from (default: the CPU cores, at most "
            "available memory / render.memory)."
        ),
    ),
]
JsonlOption = Annotated[
    bool, typer.Option("--jsonl", help="Several items: print one JSON document a line as each item finishes.")
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help=(
            'A file of prompts, one a line, or JSON Lines ({"prompt", "quality", "format", "provider", '
            '...}); "-" reads stdin.'
        ),
    ),
]


def is_batch(files: list[str], *, jsonl: bool) -> bool:
    from manimagent.services.batch import is_batch as batch_of_files

    return batch_of_files(files, jsonl=jsonl)


def refuse_for_batch(*, json_: bool, jsonl: bool, server: str | None, output_path: str | None) -> None:
    from manimagent.errors import BadInput

    if json_ and jsonl:
        raise BadInput(
            "--json and --jsonl cannot be used together",
            hint="--json prints one array at the end, --jsonl a line per item",
        )
    if output_path:
        raise BadInput(
            "--output names one video; a batch keeps each video in the media folder",
            hint="Each item's output_path says where (--json)",
        )
    if server:
        raise BadInput(
            "batches run on the local store; --server is not supported with several items",
            hint="Render the files one at a time with --server",
        )


def render_batch(
    files: list[str],
    *,
    jobs: int | None,
    json_: bool,
    jsonl: bool,
    scenes: list[str] | None,
    choices: RenderChoices,
) -> None:
    from manimagent.context import local_context
    from manimagent.services import batch

    items = batch.files_to_render(files)
    ctx = local_context()
    chosen = _jobs(batch, jobs, ctx, len(items))
    _run(
        ctx,
        items,
        chosen,
        json_=json_,
        jsonl=jsonl,
        start=lambda c: batch.render_files(c, items=items, jobs=chosen, scenes=scenes, **choices),
    )


def generate_batch(
    source: str, *, jobs: int | None, json_: bool, jsonl: bool, execute: bool, options: dict[str, Any]
) -> None:
    from manimagent.context import local_context
    from manimagent.services import batch

    items = batch.prompts_to_generate(read_source(source), "stdin" if source == "-" else source)
    ctx = local_context()
    chosen = _jobs(batch, jobs, ctx, len(items))
    _run(
        ctx,
        items,
        chosen,
        json_=json_,
        jsonl=jsonl,
        start=lambda c: batch.generate_prompts(c, items=items, jobs=chosen, execute=execute, **options),
    )


def _jobs(batch, jobs: int | None, ctx, count: int) -> int:
    """--jobs, or the default (saying how it was found)."""
    if jobs is not None:
        return batch.check_jobs(jobs, ctx)
    choice = batch.default_jobs(ctx)
    output.info(choice.announcement(count))
    return choice.jobs


def read_source(source: str) -> str:
    """The text of --from FILE (or stdin for "-"), UTF-8."""
    from manimagent.errors import BadInput

    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).expanduser().read_bytes()
    except FileNotFoundError:
        raise BadInput(f"file not found: {source}", hint="Give a file of prompts, one a line") from None
    except OSError as exc:
        raise BadInput(f"cannot read {source}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{'stdin' if source == '-' else source} is not UTF-8 text (byte {exc.start})"
        ) from None


def _run(ctx, items, jobs: int, *, json_: bool, jsonl: bool, start) -> None:
    from dataclasses import replace

    from manimagent.cli.batch_display import BatchDisplay

    display = BatchDisplay(
        total=len(items), jobs=min(jobs, len(items)), on_document=_streamer() if jsonl else None
    )
    with display:
        result = start(replace(ctx, events=display))
    display.summary(
        succeeded=result.count("succeeded"),
        failed=result.count("failed"),
        interrupted=result.count("interrupted"),
        seconds=result.seconds,
    )
    _print_result(result, json_=json_, jsonl=jsonl)


def _streamer():
    """--jsonl: each document on one line, whole lines only (items finish on several threads)."""
    lock = threading.Lock()
    closed = threading.Event()

    def write(doc: dict[str, Any]) -> None:
        with lock:
            if closed.is_set():
                return
            try:
                sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:  # `| head -1`: the reader has gone; the items still finish and are stored
                closed.set()

    return write


def _print_result(result, *, json_: bool, jsonl: bool) -> None:
    from manimagent.errors import ExitCode

    if json_:
        output.json(result.documents)
    elif not jsonl:
        for doc in result.documents:
            if doc.get("success"):
                output.line(doc.get("output_path") or doc.get("script_id") or "")
    if result.interrupted:
        output.info(f"{result.count('interrupted')} of {len(result.documents)} items did not finish.")
        raise typer.Exit(int(ExitCode.INTERRUPTED))  # the CLI's main says "Error: interrupted."
    if not result.all_succeeded:
        raise typer.Exit(int(ExitCode.FAILED))
