"""What every render engine takes and returns, and the manim command line they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from manimagent.events import Notice, RenderProgress
from manimagent.render.layout import LayoutFinding
from manimagent.render.narration import Narration

SCRIPT_NAME = "scene.py"
MEDIA_DIR = "media"


class Quality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    PRODUCTION = "production"
    FOUR_K = "4k"

    @property
    def flag(self) -> str:
        return "-q" + {"low": "l", "medium": "m", "high": "h", "production": "p", "4k": "k"}[self.value]


# What a render is asked for by name: the keywords of execute, generate and the batch commands,
# the fields of their request bodies, a JSON Lines item's options
RENDER_CHOICES = (
    "engine",
    "container",
    "quality",
    "format",
    "max_attempts",
    "still_seconds",
    "cache",
    "partial",
)


class OutputFormat(StrEnum):
    """The output asked for. AUTO (no --format given) is manim's own default: an MP4 for a scene
    that plays animations, a PNG for one that does not."""

    MP4 = "mp4"
    GIF = "gif"
    WEBM = "webm"
    MOV = "mov"
    PNG = "png"
    AUTO = "auto"

    @property
    def is_video(self) -> bool:
        return self is not OutputFormat.PNG

    @property
    def video_suffix(self) -> str | None:
        """The extension of this format's videos (AUTO: mp4), None for PNG."""
        if self is OutputFormat.PNG:
            return None
        return "mp4" if self is OutputFormat.AUTO else self.value

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The extensions manim may write for one scene: mp4 and AUTO may give a still scene's PNG."""
        if self in (OutputFormat.AUTO, OutputFormat.MP4):
            return ("mp4", "png")
        return (self.value,)


# frames per second of each quality (manim's own), for still videos made from a scene's last frame
FRAME_RATES = {"low": 15, "medium": 30, "high": 60, "production": 60, "4k": 60}
DEFAULT_STILL_SECONDS = 1.0


@dataclass
class RenderRequest:
    code: str
    scenes: list[str]  # in file order, never empty
    quality: Quality = Quality.LOW
    format: OutputFormat = OutputFormat.MP4
    timeout: float = 300.0
    dry_run: bool = False  # manim's `--format none`: run every scene, write no media (preflight)
    layout: bool = True  # run the layout check (render/layout_hook.py) in the render
    narration: Narration | None = None  # a narrated script: how it speaks (render/narration.py)


@dataclass
class RenderFailure:
    error_type: str
    message: str
    line: int | None = None
    killed: str | None = None  # timeout | memory | signal

    def summary(self) -> str:
        where = f" (script line {self.line})" if self.line else ""
        return f"{self.error_type}: {self.message}{where}"


def timeout_failure(timeout: float) -> RenderFailure:
    """The failure of a render killed at its time limit (every engine reports it alike)."""
    return RenderFailure(
        "TimeoutError", f"the render ran longer than {timeout:g} s and was killed", killed="timeout"
    )


def missing_output_failure() -> RenderFailure:
    """manim exited 0 but some requested scene has no finished file."""
    return RenderFailure("RenderError", "manim finished but wrote no output file for every scene")


@dataclass
class RenderResult:
    ok: bool
    outputs: list[Path] = field(default_factory=list)  # one per scene, request order, inside staging
    log: str = ""
    failure: RenderFailure | None = None
    duration: float = 0.0
    sandbox: str | None = (
        None  # what contained the render: bwrap, sandbox-exec, rlimits; None: the engine's own (docker)
    )
    partial: list[Path] = field(default_factory=list)  # a failed render: the scenes that did finish, kept
    scene_status: dict[str, str] = field(
        default_factory=dict
    )  # a failed multi-scene render: rendered | failed | not rendered
    cached_from: str | None = None  # every scene came from the render cache: the execution that rendered them
    cached_scenes: list[str] = field(default_factory=list)
    cache_keys: list[str] = field(default_factory=list)  # cache entries this render stored
    still_scenes: list[str] = field(
        default_factory=list
    )  # scenes with no animation (their output began as a PNG)
    layout: list[LayoutFinding] = field(default_factory=list)  # the layout check's findings


ProgressSink = Callable[[RenderProgress | Notice], None]  # progress, and a warning line now and then


class RenderEngine(Protocol):
    name: str

    def render(
        self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None
    ) -> RenderResult:
        """Render `request`; finished files are left in `staging` and listed in the result."""


def manim_arguments(
    request: RenderRequest, script: str = SCRIPT_NAME, media_dir: str = MEDIA_DIR
) -> list[str]:
    """Arguments after `python -m manim`, the same for every engine."""
    args = ["render", request.quality.flag, "--media_dir", media_dir, "--disable_caching", "--silent"]
    return [*args, *format_arguments(request), script, *request.scenes]


def format_arguments(request: RenderRequest) -> list[str]:
    """manim's format flags. AUTO and MP4 pass none: manim's default is an MP4, or a PNG for a scene
    with no animation (`--format mp4` would make such a scene fail); other videos are asked for."""
    if request.dry_run:
        return ["--format", "none"]
    if request.format is OutputFormat.PNG:
        return ["--save_last_frame"]
    if request.format in (OutputFormat.AUTO, OutputFormat.MP4):
        return []
    return ["--format", request.format.value]


def find_outputs(media: Path, request: RenderRequest) -> list[Path] | None:
    """The finished file of each requested scene under a manim media dir (a video, or a still
    scene's PNG where the format allows one), or None if one is missing. A dry run has none."""
    if request.dry_run:
        return []
    found: list[Path] = []
    for scene in request.scenes:
        path = _scene_output(media, scene, request.format.suffixes)
        if path is None:
            return None
        found.append(path)
    return found


def _scene_output(media: Path, scene: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:  # the video first: a PNG beside it is not the scene's output
        candidates = sorted(
            path
            for path in media.rglob(f"*.{suffix}")
            if "partial_movie_files" not in path.parts
            and (path.stem == scene or path.stem.startswith(f"{scene}_ManimCE_v"))
        )
        if candidates:
            return candidates[-1]
    return None
