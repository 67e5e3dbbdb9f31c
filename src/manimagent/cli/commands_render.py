"""`manimagent render FILE`: import a Manim file as a script and render it (locally or with --server).
Several files, a folder or a pattern make a batch (`cli/commands_batch.py`)."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.cli.backend import backend_for
from manimagent.cli.commands_batch import JobsOption, JsonlOption, is_batch, refuse_for_batch, render_batch
from manimagent.cli.look import (
    OpenOption,
    PreviewOption,
    open_video,
    print_preview,
    refuse_in_batch,
    with_preview,
)
from manimagent.cli.options import (
    ContainerOption,
    EngineOption,
    FormatOption,
    JsonOption,
    MaxAttemptsOption,
    NoCacheOption,
    OutputPathOption,
    PartialOption,
    QualityOption,
    ServerOption,
    StillSecondsOption,
    render_choices,
)
from manimagent.cli.results import print_execute_result


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    files: Annotated[
        list[str],
        typer.Argument(
            help="A Manim script (.py); several, a folder (its *.py files) or a pattern render as a batch.",
            metavar="FILE|DIR|GLOB...",
        ),
    ],
    scene: Annotated[
        list[str] | None,
        typer.Option(
            "--scene", "-s", help="Scene to render; repeat for several (default: all, in file order)."
        ),
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
    jobs: JobsOption = None,
    jsonl: JsonlOption = False,
) -> None:
    """Render FILE's scenes; every attempt is stored. Repairs only with --max-attempts > 1. With --server,
    -o downloads the video.

    Several files, a folder or a pattern: every scene of each file, --jobs at a time; --json prints one
    array, --jsonl a line per item."""
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
    if is_batch(files, jsonl=jsonl):
        refuse_for_batch(json_=json_, jsonl=jsonl, server=server, output_path=output_path)
        refuse_in_batch(open_=open_, preview=preview)
        return render_batch(files, jobs=jobs, json_=json_, jsonl=jsonl, scenes=scene, choices=choices)
    (file,) = files
    with drawing_events(json_=json_) as events:
        result = backend_for(server, events).render.render_file(
            path=file, scenes=scene, output=output_path, **choices
        )
    result = with_preview(result, preview)
    print_execute_result(result, json_=json_)
    print_preview(result, json_=json_)
    open_video(result, open_)
