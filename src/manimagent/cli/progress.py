"""Drawing pipeline events on stderr: provider, streamed code, findings, fixes, render progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from manimagent.cli.output import output
from manimagent.events import (
    CheckFinding,
    CodeReady,
    Done,
    Event,
    FixApplied,
    LlmDelta,
    Notice,
    ProviderFailed,
    ProviderSelected,
    RenderFailed,
    RenderProgress,
    RenderStarted,
    RepairStarted,
)

if TYPE_CHECKING:
    from rich.status import Status


@contextmanager
def drawing_events(*, json_: bool) -> Iterator[EventPrinter]:
    """An EventPrinter for the length of a command (no streamed code with --json), its spinner stopped
    after."""
    printer = EventPrinter(stream_code=not json_)
    try:
        yield printer
    finally:
        printer.close()


class EventPrinter:
    """An event sink for the CLI. `stream_code` shows the LLM's text as it arrives."""

    def __init__(self, *, stream_code: bool = True):
        self.stream_code = stream_code
        self.status: Status | None = None
        self.streaming = False
        self.clock = RenderClock()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def close(self) -> None:
        self._stop_status()

    def _on_provider_selected(self, event: ProviderSelected) -> None:
        output.info(f"Provider: {event.provider} ({event.model})")

    def _on_notice(self, event: Notice) -> None:
        output.notice(event.message)

    def _on_provider_failed(self, event: ProviderFailed) -> None:
        then = "; trying the next provider" if event.falling_back else ""
        output.notice(f"Provider {event.provider} failed ({event.error_kind}): {event.error}{then}")

    def _on_llm_delta(self, event: LlmDelta) -> None:
        if self.stream_code:
            self.streaming = True
            output.err.print(event.text, end="", markup=False, highlight=False, style="dim", soft_wrap=True)

    def _on_code_ready(self, event: CodeReady) -> None:
        if self.streaming:
            output.err.print()
            self.streaming = False
        output.info(f"Script ready: {', '.join(event.scenes) or 'no scene found'}")

    def _on_check_finding(self, event: CheckFinding) -> None:
        output.notice(f"{event.severity}: {event.message}")

    def _on_fix_applied(self, event: FixApplied) -> None:
        where = f" (line {event.line})" if event.line else ""
        output.info(f"Fixed{where}: {event.description}")

    def _on_render_started(self, event: RenderStarted) -> None:
        self._stop_status()
        label = (
            f"Rendering {', '.join(event.scenes)} with {event.engine} (attempt {event.attempt} of "
            f"{event.max_attempts})"
        )
        output.info(label)
        self.clock = RenderClock()
        if output.err.is_terminal:
            self.status = status = output.err.status(label)
            status.start()

    def _on_render_progress(self, event: RenderProgress) -> None:
        if self.status is not None:
            self.status.update(progress_label(event, self.clock.eta(overall_fraction(event))))

    def _on_render_failed(self, event: RenderFailed) -> None:
        self._stop_status()
        output.notice(f"Attempt {event.attempt} failed: {event.error}")

    def _on_repair_started(self, event: RepairStarted) -> None:
        output.info(f"Repairing for attempt {event.attempt} of {event.max_attempts}")

    def _on_done(self, event: Done) -> None:
        self._stop_status()
        if event.success:
            output.success(f"Done: {event.output_path}")

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def overall_fraction(event: RenderProgress) -> float | None:
    """How much of the whole render is done (all scenes), when the scene's animation count is known."""
    if not event.total:
        return None
    in_scene = min(1.0, (min(event.animation, event.total - 1) + event.percent / 100) / event.total)
    return min(1.0, (event.scene_index + in_scene) / max(1, event.scene_count))


def progress_label(event: RenderProgress, eta: float | None) -> str:
    """`Rendering Intro (scene 1 of 2): animation 3 of 7, 40% · 35% overall · about 12 s left`."""
    scene = (
        f"{event.scene} (scene {event.scene_index + 1} of {event.scene_count})"
        if event.scene_count > 1
        else event.scene
    )
    of_total = f" of {event.total}" if event.total else ""
    label = f"Rendering {scene}: animation {event.animation + 1}{of_total}, {event.percent:.0f}%"
    fraction = overall_fraction(event)
    if fraction is not None:
        label += f" · {fraction:.0%} overall"
    if eta is not None:
        label += f" · about {_duration(eta)} left"
    return label


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


@dataclass
class RenderClock:
    """The time left, from the pace since the first progress of a render (manim's import excluded)."""

    started: float | None = None
    first_fraction: float = 0.0
    MIN_PROGRESS = 0.03  # no guess before this much of the render has been seen

    def eta(self, fraction: float | None, now: float | None = None) -> float | None:
        if fraction is None:
            return None
        now = time.monotonic() if now is None else now
        if self.started is None:
            self.started, self.first_fraction = now, fraction
            return None
        done = fraction - self.first_fraction
        if done < self.MIN_PROGRESS:
            return None
        return (now - self.started) / done * (1.0 - fraction)
