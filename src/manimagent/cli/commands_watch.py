"""`manimagent watch FILE`: render a Manim file again each time it is saved, and show each result."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.cli.options import (
    EngineOption,
    FormatOption,
    NoCacheOption,
    OutputPathOption,
    QualityOption,
    render_choices,
)
from manimagent.cli.output import output


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    file: Annotated[str, typer.Argument(help="The Manim script (.py) to watch.", metavar="FILE")],
    scene: Annotated[
        list[str] | None,
        typer.Option(
            "--scene", "-s", help="Scene to render; repeat for several (default: all, in file order)."
        ),
    ] = None,
    engine: EngineOption = None,
    quality: QualityOption = None,
    format: FormatOption = None,
    no_cache: NoCacheOption = False,
    output_path: OutputPathOption = None,
    open_: Annotated[
        bool,
        typer.Option(
            "--open",
            help="Open the first finished video in the system's player (with -o the path stays the same).",
        ),
    ] = False,
) -> None:
    """Render FILE now and each time it is saved with new content (an unchanged save renders nothing).

    Unchanged scenes come from the render cache. Each result is one line: the video, or the error
    with its script line. Ctrl-C ends it."""
    from manimagent.cli.progress import drawing_events
    from manimagent.context import local_context
    from manimagent.services.watch import watch_file

    choices = render_choices(
        engine=engine, container=None, quality=quality, format=format, max_attempts=None, no_cache=no_cache
    )
    opened = not open_
    output.info(f"Watching {file} (Ctrl-C ends it)")
    with drawing_events(json_=False) as events:
        for outcome in watch_file(
            local_context(events), path=file, scenes=scene, output=output_path, **choices
        ):
            _show(outcome)
            if (
                not opened
                and outcome.kind == "rendered"
                and outcome.result is not None
                and outcome.result.output_path
            ):
                opened = _open_video(outcome.result.output_path)


def _show(outcome) -> None:
    if outcome.kind == "unchanged":
        output.info("unchanged: nothing rendered")
    elif outcome.kind == "rendered":
        output.line(outcome.result.output_path or "")
        output.info(f"rendered in {outcome.seconds:.1f} s; watching")
    else:
        output.error(f"{outcome.error} (still watching)")


def _open_video(path: str) -> bool:
    """Open `path` in the system's player (cli/opener.py); one that cannot be opened is a notice,
    and is not tried again."""
    from manimagent.cli.opener import CannotOpen, open_file

    try:
        open_file(path)
    except CannotOpen as reason:
        output.notice(f"--open: {reason}")
    return True
