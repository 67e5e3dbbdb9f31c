"""`manimagent render FILE`: import a Manim file as a script and render it (locally or with --server)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from manimagent.cli.options import (
    ContainerOption,
    EngineOption,
    FormatOption,
    StillSecondsOption,
    JsonOption,
    MaxAttemptsOption,
    NoCacheOption,
    OutputPathOption,
    QualityOption,
    ServerOption,
    render_choices,
    service_for,
)
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
    still_seconds: StillSecondsOption = None,
    max_attempts: MaxAttemptsOption = None,
    no_cache: NoCacheOption = False,
    output_path: OutputPathOption = None,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Render FILE's scenes; every attempt is stored. Repairs only with --max-attempts > 1. With --server, -o downloads the video."""
    from manimagent.cli.progress import drawing_events

    choices = render_choices(engine=engine, container=container, quality=quality, format=format, max_attempts=max_attempts, still_seconds=still_seconds, no_cache=no_cache)
    with drawing_events(json_=json_) as events:
        svc, ctx = service_for("render", server, events)
        result = svc.render_file(ctx, path=file, scenes=scene, output=output_path, **choices)
    print_execute_result(result, json_=json_)
