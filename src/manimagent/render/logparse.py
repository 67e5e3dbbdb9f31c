"""Reading manim's output: the failure (exception type, message, script line) and progress."""

from __future__ import annotations

import re

from manimagent.events import RenderProgress
from manimagent.render.base import SCRIPT_NAME, ProgressSink, RenderFailure

_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure))(?::\s?(?P<message>.*))?$")
_PROGRESS = re.compile(r"Animation\s+(?P<index>\d+)\s*:.*?(?P<percent>\d{1,3})%\|")
_RENDERED = re.compile(r"\bRendered\s+(?P<scene>[A-Za-z_]\w*)\b")
_BOX = "│╭╰─┃"
MAX_MESSAGE = 600
_LIBRARY_PARTS = ("site-packages/", "dist-packages/", "/lib/python", "/manim/")


def parse_failure(log: str, script_name: str = SCRIPT_NAME) -> RenderFailure:
    """The last exception in `log` and the last line of the script it passed through."""
    lines = [line.rstrip() for line in log.splitlines()]
    error_type, message = "RenderError", _last_meaningful(lines)
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION.match(lines[index].strip())
        if match and not lines[index].lstrip().startswith(tuple(_BOX)):
            error_type = match["type"].rsplit(".", 1)[-1]
            message = _message_from(match["message"] or "", lines[index + 1 :])
            break
    return RenderFailure(error_type=error_type, message=message[:MAX_MESSAGE], line=script_line(log, script_name))


def script_line(log: str, script_name: str = SCRIPT_NAME) -> int | None:
    """The line of the deepest traceback frame in the script itself (not manim's own `scene/scene.py`)."""
    pattern = rf"(?P<path>[^\s\"'│]*?)\b{re.escape(script_name)}(?:\"?, line |:)(?P<line>\d+)"
    found = [match["line"] for match in re.finditer(pattern, log) if not _is_library_path(match["path"])]
    return int(found[-1]) if found else None


def _is_library_path(path: str) -> bool:
    """A frame of an installed package (manim's `manim/scene/scene.py`), not the job's script."""
    normalised = path.replace("\\", "/")
    return any(part in normalised for part in _LIBRARY_PARTS) or normalised.endswith("scene/")


def line_in_script(line: int | None, code: str) -> int | None:
    """`line` when it is a line of `code`, else None (a log can name a line of another file)."""
    return line if line is not None and 0 < line <= len(code.splitlines()) else None


def parse_progress(line: str) -> tuple[int, float] | None:
    match = _PROGRESS.search(line)
    if not match:
        return None
    return int(match["index"]), min(100.0, float(match["percent"]))


def rendered_scene(line: str) -> str | None:
    match = _RENDERED.search(line)
    return match["scene"] if match else None


def _message_from(first: str, rest: list[str]) -> str:
    parts = [first.strip()] if first.strip() else []
    for line in rest[:8]:
        if not line.strip() or line.lstrip().startswith(tuple(_BOX)):
            break
        parts.append(line.strip())
    return " ".join(parts) or "(no message)"


def _last_meaningful(lines: list[str]) -> str:
    for line in reversed(lines):
        text = line.strip().strip(_BOX).strip()
        if text:
            return text
    return "the render produced no output"


class ProgressTracker:
    """Turns manim's progress bars, line by line, into RenderProgress events, scene by scene."""

    def __init__(self, scenes: list[str], sink: ProgressSink | None):
        self.scenes = scenes
        self.sink = sink
        self.index = 0

    def feed(self, line: str) -> None:
        if self.sink is None or not self.scenes:
            return
        if rendered_scene(line) is not None:
            self.index = min(self.index + 1, len(self.scenes) - 1)
            return
        progress = parse_progress(line)
        if progress is not None:
            self.sink(RenderProgress(scene=self.scenes[self.index], animation=progress[0], percent=progress[1]))
