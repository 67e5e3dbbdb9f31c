"""The host side of the layout check: the hook put into a job folder, and its findings read back.

The hook (`layout_hook.py`) runs inside the render, next to the LLM's code, so its `layout.json`
is untrusted: it is read with a size limit, each finding is validated, and anything malformed is
dropped rather than trusted or raised.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from manimagent.errors import ConfigError

HOOK_FILE = "layout_hook.py"
FINDINGS_FILE = "layout.json"
MAX_FILE_BYTES = 256_000
MAX_FINDINGS = 50
MAX_NAME_CHARS = 120
KINDS = ("off_frame", "overlap")
SIDES = ("bottom", "left", "right", "top")
LAYOUT_ERROR = "LayoutError"


class LayoutMode:
    WARN = "warn"
    REPAIR = "repair"
    OFF = "off"
    ALL = (WARN, REPAIR, OFF)


@dataclass
class LayoutFinding:
    kind: str  # off_frame | overlap
    scene: str
    time: float  # seconds into the scene
    mobject: str
    amount: float  # off_frame: units past the edge; overlap: share of the smaller box covered
    other: str | None = None  # overlap: the other text
    sides: list[str] = field(default_factory=list)  # off_frame: the edges passed

    def describe(self) -> str:
        when = f"{self.scene} at {self.time:g} s"
        if self.kind == "off_frame":
            sides = ", ".join(self.sides)
            return f"{when}: {self.mobject} leaves the frame by {self.amount:.2f} units ({sides})"
        return f"{when}: {self.mobject} overlaps {self.other} ({self.amount:.0%} of the smaller one covered)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def layout_mode(value: object) -> str:
    """The `render.layout` setting, checked."""
    mode = str(value or LayoutMode.WARN).strip().lower()
    if mode not in LayoutMode.ALL:
        raise ConfigError(
            f"render.layout must be warn, repair or off, got {value!r}",
            hint="Fix render.layout in config.toml",
        )
    return mode


def hook_source() -> bytes:
    return resources.files("manimagent.render").joinpath(HOOK_FILE).read_bytes()


def install_hook(job: Path) -> None:
    """Put the hook into a job folder: the child program runs it before manim when it is there."""
    (job / HOOK_FILE).write_bytes(hook_source())


def read_findings(path: Path) -> list[LayoutFinding]:
    """The findings a render left in `path`; [] when it is missing, too big or not what the hook writes."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return []
        return parse_findings(path.read_bytes())
    except OSError:
        return []


def parse_findings(data: bytes | str) -> list[LayoutFinding]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    items = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return []
    findings = [finding for item in items[:MAX_FINDINGS] if (finding := _finding(item)) is not None]
    return sorted(findings, key=lambda finding: (finding.scene, finding.time))


def findings_from_rows(rows: object) -> list[LayoutFinding]:
    """Findings stored on an Execution (or sent by a worker), validated the same way."""
    if not isinstance(rows, list):
        return []
    return [finding for item in rows[:MAX_FINDINGS] if (finding := _finding(item)) is not None]


def _finding(item: object) -> LayoutFinding | None:
    if not isinstance(item, dict) or item.get("kind") not in KINDS:
        return None
    scene, mobject, other = _name(item.get("scene")), _name(item.get("mobject")), item.get("other")
    time, amount = _number(item.get("time")), _number(item.get("amount"))
    sides = item.get("sides", [])
    if scene is None or mobject is None or time is None or amount is None or time < 0 or amount < 0:
        return None
    if not isinstance(sides, list) or not all(side in SIDES for side in sides):
        return None
    if item["kind"] == "overlap":
        other = _name(other)
        if other is None:
            return None
    else:
        other = None
    return LayoutFinding(item["kind"], scene, time, mobject, amount, other, sorted(set(sides)))


def _name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = "".join(char if char.isprintable() else " " for char in value.strip())
    return text[:MAX_NAME_CHARS]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return round(number, 3) if math.isfinite(number) and number < 1e6 else None


def layout_summary(findings: list[LayoutFinding], limit: int = 5) -> str:
    """One line naming the first findings: the message of a LayoutError."""
    shown = "; ".join(finding.describe() for finding in findings[:limit])
    more = f"; and {len(findings) - limit} more" if len(findings) > limit else ""
    count = f"{len(findings)} layout problem" + ("s" if len(findings) != 1 else "")
    return f"{count}: {shown}{more}"
