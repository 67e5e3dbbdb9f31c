"""Reading manim's output: the failure (exception type, message, script line) and progress."""

from __future__ import annotations

import ast
import re

from manimagent.events import RenderProgress
from manimagent.render.base import SCRIPT_NAME, ProgressSink, RenderFailure

_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure))(?::\s?(?P<message>.*))?$"
)
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
    return RenderFailure(
        error_type=error_type, message=message[:MAX_MESSAGE], line=script_line(log, script_name)
    )


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
    """Turns manim's progress bars, line by line, into RenderProgress events, scene by scene; with
    the script's `code`, each event carries the scene's animation count when it can be known."""

    def __init__(self, scenes: list[str], sink: ProgressSink | None, code: str | None = None):
        self.scenes = scenes
        self.sink = sink
        self.index = 0
        self.totals = count_animations(code, scenes) if code else {}

    def feed(self, line: str) -> None:
        if self.sink is None or not self.scenes:
            return
        if rendered_scene(line) is not None:
            self.index = min(self.index + 1, len(self.scenes) - 1)
            return
        progress = parse_progress(line)
        if progress is not None:
            scene = self.scenes[self.index]
            self.sink(
                RenderProgress(
                    scene=scene,
                    animation=progress[0],
                    percent=progress[1],
                    total=self.totals.get(scene),
                    scene_index=self.index,
                    scene_count=len(self.scenes),
                )
            )


# --- how many animations a scene plays, when the code says so plainly ---------------------------

ANIMATING_METHODS = frozenset(
    {"play", "wait", "wait_until", "move_camera"}
)  # each is one of manim's "Animation n"


def count_animations(code: str, scenes: list[str]) -> dict[str, int]:
    """Each scene's number of `self.play`/`self.wait` calls, for the scenes whose `construct`
    plays in a straight line (no loop, no helper method, a Scene base): elsewhere it is unknown."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    totals = {}
    for scene in scenes:
        found = classes.get(scene) and _straight_line_count(classes[scene], classes)
        if found:
            totals[scene] = found
    return totals


def _straight_line_count(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> int | None:
    if any(isinstance(base, ast.Name) and base.id in classes for base in cls.bases):
        return None  # a user-defined base may play in its own methods
    methods = {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}
    construct = methods.get("construct")
    if construct is None:
        return None
    count = 0
    for node, looped in _walk(construct, looped=False):
        name = _self_call(node)
        if name in methods and name != "construct":
            return None  # a helper method may play any number of animations
        if name in ANIMATING_METHODS:
            if looped:
                return None
            count += 1
    return count or None


def _walk(node: ast.AST, *, looped: bool):
    for child in ast.iter_child_nodes(node):
        inner = looped or isinstance(
            child, (ast.For, ast.AsyncFor, ast.While, ast.comprehension, ast.Lambda, ast.FunctionDef)
        )
        yield child, inner
        yield from _walk(child, looped=inner)


def _self_call(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        target = node.func.value
        if isinstance(target, ast.Name) and target.id == "self":
            return node.func.attr
    return None
