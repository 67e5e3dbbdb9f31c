"""Options shared by several commands, each naming its env var or default in its help."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from manimagent.render.base import OutputFormat, Quality

if TYPE_CHECKING:
    from types import ModuleType

    from manimagent.events import EventSink

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
        help="Output format (default: config render.format, else auto: as manim does, a video, or a PNG for a scene with no animation).",
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
        help="When some scenes of a file fail, still join the ones that rendered into one video (success stays false).",
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
) -> dict[str, Any]:
    """The render options as the services (and the client) take them: plain values, None for the default."""
    choices = {
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
    return {**choices, "still_seconds": still_seconds} if still_seconds is not None else choices


def service_for(name: str, server: str | None, events: EventSink | None = None) -> tuple[ModuleType, Any]:
    """`manimagent.services.<name>` and a local context, or the client and a RemoteContext with --server."""
    import importlib

    from manimagent.events import ignore
    from manimagent.settings import resolve_server

    resolved = resolve_server(server)
    if resolved is None:  # the local store: the client (and its imports) are not needed
        from manimagent.context import local_context

        return importlib.import_module(f"manimagent.services.{name}"), local_context(events or ignore)
    from manimagent import client

    return client.service(name, resolved), client.context_for(resolved, events or ignore)


LIST_LIMIT = 50
LimitOption = Annotated[
    int, typer.Option("--limit", "-n", min=1, help=f"At most N rows, newest first (default {LIST_LIMIT}).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every row, however many (pages through a server).")]


def list_limit(limit: int, all_: bool) -> int | None:
    """The `limit` a list service takes: None (no limit) with --all."""
    return None if all_ else limit


LAST = "last"


def newest_ref(ref: str, server: str | None, what: str) -> str:
    """`last` is the newest script or execution (`what`); anything else is an id (or prefix) as given."""
    if ref.strip().lower() != LAST:
        return ref
    from manimagent.errors import NotFound

    plural = f"{what}s"
    svc, ctx = service_for(plural, server)
    newest = getattr(svc, f"list_{plural}")(ctx, limit=1)
    if not newest:
        raise NotFound(f"there are no {plural} yet", hint=NEWEST_HINTS[what])
    return newest[0].id


NEWEST_HINTS = {
    "script": 'Make one: manimagent generate "Animate a circle"',
    "execution": 'Render something: manimagent generate "Animate a circle"',
}
