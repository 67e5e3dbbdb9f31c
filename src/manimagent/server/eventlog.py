"""The event log of server renders: each job's typed events as JSON lines in
`<home>/events/<execution id>.jsonl`, so any process of `serve --workers N` can stream them (SSE).

A job's log is named after its first execution; later attempts (repairs) get a small alias file
pointing to it. The pipeline's `done` is held back until the job returns, then written with the
job's result document (`"result"`), so a client streaming the log gets everything it needs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from manimagent.events import Done, Event, EventSink, RenderStarted
from manimagent.settings import Settings

KEEP_SECONDS = 24 * 3600  # logs older than this are removed by the sweep
ALIAS_SUFFIX = ".alias"


def log_folder(settings: Settings) -> Path:
    return settings.paths.data / "events"


def log_path(settings: Settings, execution_id: str) -> Path | None:
    """The log an execution's events are in (its own, or the one of its job's first attempt)."""
    folder = log_folder(settings)
    own = folder / f"{execution_id}.jsonl"
    if own.exists():
        return own
    alias = folder / f"{execution_id}{ALIAS_SUFFIX}"
    try:
        target = alias.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return folder / f"{target}.jsonl" if target.isalnum() or "-" in target else None


class EventLog:
    """The sink of one server job: appends its events to the log of its first execution."""

    def __init__(self, settings: Settings, downstream: EventSink, first_execution: str | None = None) -> None:
        self._folder = log_folder(settings)
        self._downstream = downstream
        self._stream = first_execution
        self._pending: list[dict[str, Any]] = []  # events before the first execution is known
        self._done: dict[str, Any] | None = None
        self._lock = threading.Lock()
        if first_execution:
            self._write([])

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._record(event)
        self._downstream(event)

    def _record(self, event: Event) -> None:
        if isinstance(event, RenderStarted) and event.execution_id:
            self._started(event.execution_id)
        doc = event.to_dict()
        if isinstance(event, Done):
            self._done = doc
        elif self._stream is None:
            self._pending.append(doc)
        else:
            self._write([doc])

    def _started(self, execution_id: str) -> None:
        if self._stream is None:
            self._stream = execution_id
            self._write(self._pending)
            self._pending = []
        elif execution_id != self._stream:
            self._alias(execution_id)

    def finish(self, result: dict[str, Any] | None, error: str | None = None) -> None:
        """The job returned (`result`) or raised (`error`): write its `done`, with the result."""
        with self._lock:
            if self._stream is None:
                return
            done = self._done or Done(success=False, error=error).to_dict()
            if result is not None:
                done = {**done, "success": bool(result.get("success", done.get("success"))), "result": result}
            elif error and not done.get("error"):
                done = {**done, "success": False, "error": error}
            self._write([done])

    def _write(self, docs: list[dict[str, Any]]) -> None:
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            with open(self._folder / f"{self._stream}.jsonl", "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(doc, default=str) + "\n" for doc in docs))
        except OSError:
            pass  # progress is a convenience: a full disk must not fail the render

    def _alias(self, execution_id: str) -> None:
        try:
            (self._folder / f"{execution_id}{ALIAS_SUFFIX}").write_text(str(self._stream), encoding="utf-8")
        except OSError:
            pass


def remove_old_logs(settings: Settings, keep_seconds: float = KEEP_SECONDS) -> int:
    """Delete logs (and aliases) older than `keep_seconds`; returns how many."""
    folder = log_folder(settings)
    if not folder.is_dir():
        return 0
    horizon = time.time() - keep_seconds
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < horizon:
                os.unlink(path)
                removed += 1
        except OSError:
            continue
    return removed
