"""Options shared by several commands, each naming its env var or default in its help."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from manimagent.render.base import OutputFormat, Quality

if TYPE_CHECKING:
    from manimagent.backends.protocols import Backend, RenderChoices

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="MANIMAGENT_SERVER",
        show_envvar=True,
        help="A manimagent serve URL (env MANIMAGENT_SERVER); unset: the local store.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout (the REST body).")
]
QualityOption = Annotated[
    Quality | None,
    typer.Option("--quality", "-q", help="Render quality (default: config render.quality, low)."),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help=(
            "Output format (default: config render.format, else auto: as manim does, a video, or a PNG for "
            "a scene with no animation)."
        ),
    ),
]
StillSecondsOption = Annotated[
    float | None,
    typer.Option(
        "--still-seconds",
        min=0.01,
        max=60,
        help="Length of a still scene's video when a video --format is given (default 1).",
    ),
]
EngineOption = Annotated[
    str | None,
    typer.Option("--engine", "-e", help="Render engine: local or docker (default: config render.engine)."),
]
ContainerOption = Annotated[
    str | None, typer.Option("--container", "-c", help="Container name or id for --engine docker.")
]
MaxAttemptsOption = Annotated[
    int | None,
    typer.Option("--max-attempts", min=1, max=10, help="Render attempts in total, repairs included."),
]
OutputPathOption = Annotated[
    str | None, typer.Option("--output", "-o", help="Also copy the final video to this path.")
]


NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Render every scene again, whatever the render cache holds.")
]
PartialOption = Annotated[
    bool,
    typer.Option(
        "--partial",
        help=(
            "When some scenes of a file fail, still join the ones that rendered into one video (success "
            "stays false)."
        ),
    ),
]


def render_choices(
    *,
    engine: str | None,
    container: str | None,
    quality: Quality | None,
    format: OutputFormat | None,
    max_attempts: int | None,
    still_seconds: float | None = None,
    no_cache: bool = False,
    partial: bool = False,
) -> RenderChoices:
    """The render options as the backends take them: plain values, None for the default."""
    choices: RenderChoices = {
        "engine": engine,
        "container": container,
        "quality": quality.value if quality else None,
        "format": format.value if format else None,
        "max_attempts": max_attempts,
    }
    if no_cache:
        choices["cache"] = False
    if partial:
        choices["partial"] = True
    if still_seconds is not None:
        choices["still_seconds"] = still_seconds
    return choices


LIST_LIMIT = 50
LimitOption = Annotated[
    int, typer.Option("--limit", "-n", min=1, help=f"At most N rows, newest first (default {LIST_LIMIT}).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every row, however many (pages through a server).")]


def list_limit(limit: int, all_: bool) -> int | None:
    """The `limit` a list service takes: None (no limit) with --all."""
    return None if all_ else limit


LAST = "last"


def newest_ref(ref: str, backend: Backend, what: Literal["script", "execution"]) -> str:
    """`last` is the newest script or execution (`what`); anything else is an id (or prefix) as given."""
    if ref.strip().lower() != LAST:
        return ref
    from manimagent.errors import NotFound

    if what == "script":
        newest = [row.id for row in backend.scripts.list_scripts(limit=1)]
    else:
        newest = [row.id for row in backend.executions.list_executions(limit=1)]
    if not newest:
        raise NotFound(f"there are no {what}s yet", hint=NEWEST_HINTS[what])
    return newest[0]


NEWEST_HINTS = {
    "script": 'Make one: manimagent generate "Animate a circle"',
    "execution": 'Render something: manimagent generate "Animate a circle"',
}
