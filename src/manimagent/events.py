"""Typed events the pipeline emits; the CLI draws them, the server can stream them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass
class ProviderSelected(Event):
    kind: ClassVar[str] = "provider_selected"
    provider: str
    model: str
    reason: str  # explicit | configured | env | offline


@dataclass
class ProviderFailed(Event):
    kind: ClassVar[str] = "provider_failed"
    provider: str
    error: str
    error_kind: str
    falling_back: bool


@dataclass
class LlmDelta(Event):
    kind: ClassVar[str] = "llm_delta"
    text: str


@dataclass
class CodeReady(Event):
    kind: ClassVar[str] = "code_ready"
    code: str
    scenes: list[str] = field(default_factory=list)


@dataclass
class CheckFinding(Event):
    kind: ClassVar[str] = "check_finding"
    severity: str  # error | warning
    code: str
    message: str
    line: int | None = None


@dataclass
class FixApplied(Event):
    kind: ClassVar[str] = "fix_applied"
    name: str
    description: str
    line: int | None = None


@dataclass
class RenderStarted(Event):
    kind: ClassVar[str] = "render_started"
    attempt: int
    max_attempts: int
    engine: str
    scenes: list[str] = field(default_factory=list)
    execution_id: str = ""


@dataclass
class RenderProgress(Event):
    kind: ClassVar[str] = "render_progress"
    scene: str
    animation: int  # manim's index, from 0
    percent: float
    total: int | None = None  # the scene's animation count, when the code says so plainly
    scene_index: int = 0
    scene_count: int = 1


@dataclass
class RenderFailed(Event):
    kind: ClassVar[str] = "render_failed"
    attempt: int
    error: str


@dataclass
class RepairStarted(Event):
    kind: ClassVar[str] = "repair_started"
    attempt: int
    max_attempts: int


@dataclass
class Done(Event):
    kind: ClassVar[str] = "done"
    success: bool
    output_path: str | None = None
    error: str | None = None


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The sink of callers that do not draw events."""


@dataclass
class Notice(Event):
    kind: ClassVar[str] = "notice"
    message: str
