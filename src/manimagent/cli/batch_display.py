"""Drawing a batch on stderr: a line per running job and a total bar (Rich Live on a terminal), the
failures as they happen; plain lines when stderr is not a terminal (CI logs, pipes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from manimagent.cli.output import output
from manimagent.cli.progress import progress_label
from manimagent.events import Event
from manimagent.services.batch import ItemEvent, ItemFinished, ItemStarted, short_label

REFRESHES_PER_SECOND = 8


@dataclass
class _Job:
    label: str
    started: float
    state: str = "starting"


class BatchDisplay:
    """The event sink of a batch command. `on_document` gets each finished item's document (--jsonl)."""

    def __init__(self, *, total: int, jobs: int, on_document: Callable[[dict[str, Any]], None] | None = None):
        self.total = total
        self.jobs = jobs
        self.on_document = on_document
        self.lock = threading.RLock()
        self.running: dict[int, _Job] = {}
        self.done = 0
        self.notices: set[str] = set()
        self.console = output.err
        self.live: Live | None = None
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.bar = self.progress.add_task(
            f"Total (--jobs {jobs})", total=total, start=False
        )  # its clock starts with the first item
        self.plain = not self.console.is_terminal

    def __enter__(self) -> BatchDisplay:
        if not self.plain:
            self.live = Live(
                get_renderable=self._renderable,
                console=self.console,
                refresh_per_second=REFRESHES_PER_SECOND,
                transient=True,
            )
            self.live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, ItemStarted):
                self._started(event)
            elif isinstance(event, ItemEvent):
                self._item_event(event)
            elif isinstance(event, ItemFinished):
                self._finished(event)

    def _started(self, event: ItemStarted) -> None:
        label = short_label(event.label, tail=event.source == "file")
        if not self.running and not self.done:
            self.progress.start_task(self.bar)
        self.running[event.item] = _Job(label, time.monotonic())
        if self.plain:
            output.info(f"started {label}")

    def _item_event(self, wrapped: ItemEvent) -> None:
        job = self.running.get(wrapped.item)
        event = wrapped.event
        if event.kind == "notice":
            self._notice(getattr(event, "message", ""))
        state = job_state(event)
        if job is not None and state is not None:
            job.state = state

    def _notice(self, message: str) -> None:
        """A notice (no provider configured, not sandboxed) is shown once, not once per item."""
        if message and message not in self.notices:
            self.notices.add(message)
            self._print(f"[yellow]{escape(message)}[/yellow]")

    def _finished(self, event: ItemFinished) -> None:
        job = self.running.pop(event.item, None)
        self.done += 1
        self.progress.update(self.bar, completed=self.done)
        seconds = f" ({time.monotonic() - job.started:.1f} s)" if job else ""
        label = escape(short_label(event.label, tail=event.source == "file"))
        count = f"[{self.done}/{self.total}]"
        doc = event.document
        if event.status == "succeeded":
            where = doc.get("output_path") or doc.get("script_id") or ""
            self._print(f"[green]{count} done[/green] {label} -> {escape(str(where))}{seconds}")
        elif event.status == "interrupted":
            self._print(f"[yellow]{count} interrupted[/yellow] {label}")
        else:
            self._print(
                f"[bold red]{count} failed[/bold red] {label}: {escape(str(doc.get('error') or 'failed'))}"
            )
        if self.on_document is not None:
            self.on_document(doc)

    def _print(self, markup: str) -> None:
        self.console.print(markup, soft_wrap=True, highlight=False)

    def _renderable(self) -> Group:
        with self.lock:
            now = time.monotonic()
            lines = [
                Text.assemble(
                    ("  ", ""),
                    (job.label, "bold"),
                    (f"  {job.state}", "dim"),
                    (f"  {now - job.started:.0f} s", "dim"),
                )
                for _index, job in sorted(self.running.items())
            ]
        return Group(*lines, self.progress)

    def summary(self, *, succeeded: int, failed: int, interrupted: int, seconds: float) -> None:
        parts = [f"{succeeded} succeeded", f"{failed} failed"] + (
            [f"{interrupted} interrupted"] if interrupted else []
        )
        output.info(
            f"{self.total} item{'s' if self.total != 1 else ''}: {', '.join(parts)} in {seconds:.1f} s "
            f"(--jobs {self.jobs})"
        )


def job_state(event: Event) -> str | None:
    """What a running job is doing, from its latest pipeline event (None: keep the last state)."""
    kind = event.kind
    if kind == "render_progress":
        return progress_label(event, None)  # type: ignore[arg-type]
    if kind == "render_started":
        return f"rendering (attempt {event.attempt} of {event.max_attempts})"  # type: ignore[attr-defined]
    if kind == "render_failed":
        return f"attempt {event.attempt} failed"  # type: ignore[attr-defined]
    if kind == "repair_started":
        return f"repairing for attempt {event.attempt}"  # type: ignore[attr-defined]
    if kind == "provider_selected":
        return f"writing with {event.provider}"  # type: ignore[attr-defined]
    if kind == "code_ready":
        return "script ready"
    return None
