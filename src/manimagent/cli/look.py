"""`--open` and `--preview` of `render`, `generate` and `scripts execute`: after a render, a small
GIF beside the video and the video in the system's player."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from manimagent.cli.output import output

if TYPE_CHECKING:
    from manimagent.schemas import ExecuteResult, GenerateResult

Result = TypeVar("Result", "ExecuteResult", "GenerateResult")

OpenOption = Annotated[
    bool,
    typer.Option(
        "--open",
        help=(
            "Open the finished video in the system's player (xdg-open, open, start); without a display it "
            "says so."
        ),
    ),
]
PreviewOption = Annotated[
    bool,
    typer.Option(
        "--preview", help="Also write a small GIF beside the video (480 px wide, 12 fps) and print its path."
    ),
]


def refuse_in_batch(*, open_: bool, preview: bool) -> None:
    from manimagent.errors import BadInput

    if open_ or preview:
        flag = "--open" if open_ else "--preview"
        raise BadInput(
            f"{flag} goes with one render, not a batch", hint="Render one file (or one prompt) with it"
        )


def with_preview(result: Result, preview: bool) -> Result:
    """The result with its preview GIF written (`preview_path`), when asked and it rendered."""
    if (
        not preview or not result.success or not result.output_path
    ):  # nothing rendered (generate --no-execute)
        return result
    from manimagent.errors import ManimagentError
    from manimagent.services.render import add_preview

    try:
        previewed = add_preview(result)
    except ManimagentError as exc:  # the video is there and stays the result: say why there is no GIF
        output.notice(f"No preview: {exc.one_line()}")
        return result
    if previewed.preview_path is None:
        output.notice(f"No preview: {result.output_path} is an image, not a video")
    return previewed


def print_preview(result: ExecuteResult | GenerateResult, *, json_: bool) -> None:
    """The preview's path on stdout, after the video's (--json has it as `preview_path`)."""
    if result.preview_path and not json_:
        output.line(result.preview_path)


def open_video(result: ExecuteResult | GenerateResult, open_: bool) -> None:
    """Open the video when asked; when it cannot be opened here, one line on stderr says why."""
    if not open_ or not result.success or not result.output_path:
        return
    from manimagent.cli.opener import CannotOpen, open_file

    try:
        open_file(result.output_path)
    except CannotOpen as reason:
        output.notice(f"--open: {reason}")
