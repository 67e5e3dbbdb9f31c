"""`manimagent render FILE`: import a Manim file as a script and render it."""

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


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    file: Annotated[str, typer.Argument(help="A Manim script (.py).")],
    scene: Annotated[Optional[list[str]], typer.Option("--scene", "-s", help="Scene to render; repeat for several (default: all, in file order).")] = None,
    engine: EngineOption = None,
    container: ContainerOption = None,
    quality: QualityOption = None,
    format: FormatOption = None,
    max_attempts: MaxAttemptsOption = None,
    output_path: OutputPathOption = None,
    json_: JsonOption = False,
) -> None:
    """Render FILE's scenes; every attempt is stored. Repairs only with --max-attempts > 1."""
    from manimagent.cli.progress import EventPrinter
    from manimagent.services.context import local_context
    from manimagent.services.render import render_file

    printer = EventPrinter(stream_code=not json_)
    try:
        result = render_file(
            local_context(events=printer),
            path=file,
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
