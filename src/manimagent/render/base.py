"""What every render engine takes and returns, and the manim command line they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Protocol

from manimagent.events import RenderProgress

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


class OutputFormat(StrEnum):
    MP4 = "mp4"
    GIF = "gif"
    WEBM = "webm"
    MOV = "mov"
    PNG = "png"

    @property
    def is_video(self) -> bool:
        return self is not OutputFormat.PNG


@dataclass
class RenderRequest:
    code: str
    scenes: list[str]  # in file order, never empty
    quality: Quality = Quality.LOW
    format: OutputFormat = OutputFormat.MP4
    timeout: float = 300.0
    job_id: str = "job"


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
    return RenderFailure("TimeoutError", f"the render ran longer than {timeout:g} s and was killed", killed="timeout")


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
    sandbox: str | None = None  # what contained the render: bwrap, sandbox-exec, rlimits; None: the engine's own (docker)


ProgressSink = Callable[[RenderProgress], None]


class RenderEngine(Protocol):
    name: str

    def render(self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None) -> RenderResult:
        """Render `request`; finished files are left in `staging` and listed in the result."""


def manim_arguments(request: RenderRequest, script: str = SCRIPT_NAME, media_dir: str = MEDIA_DIR) -> list[str]:
    """Arguments after `python -m manim`, the same for every engine."""
    args = ["render", request.quality.flag, "--media_dir", media_dir, "--disable_caching", "--silent"]
    if request.format is OutputFormat.PNG:
        args.append("--save_last_frame")
    else:
        args += ["--format", request.format.value]
    return [*args, script, *request.scenes]


def find_outputs(media: Path, request: RenderRequest) -> list[Path] | None:
    """The finished file of each requested scene under a manim media dir, or None if one is missing."""
    found: list[Path] = []
    suffix = request.format.value
    for scene in request.scenes:
        candidates = sorted(
            path
            for path in media.rglob(f"*.{suffix}")
            if "partial_movie_files" not in path.parts
            and (path.stem == scene or path.stem.startswith(f"{scene}_ManimCE_v"))
        )
        if not candidates:
            return None
        found.append(candidates[-1])
    return found
