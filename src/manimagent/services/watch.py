"""`watch FILE`: render a file, then again each time it is saved with new content.

Each render is `render_file` (stored like any other, answered by the render cache where it can);
a save that leaves the file's bytes as they were at the last render starts none. The loop yields
one `WatchResult` per save it saw and ends when `stop` is set or the caller stops iterating
(Ctrl-C comes through as KeyboardInterrupt, after the render under way was ended).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manimagent.context import Context
from manimagent.errors import BadInput, ManimagentError

if TYPE_CHECKING:
    import queue

    from manimagent.schemas import ExecuteResult

# watchfiles waits 1.6 s for a burst of changes to end by default; a save is one burst of a few ms
DEBOUNCE_MS = 80
STEP_MS = 20
READY_MS = 100  # the watcher wakes this often with no change; its first wake-up says it is watching


@dataclass
class WatchResult:
    """One save's outcome: `rendered` (see `result`), `unchanged` (no render), or `error` (one line)."""

    kind: str
    result: ExecuteResult | None = None
    error: str | None = None
    seconds: float = 0.0


def watch_file(
    ctx: Context, *, path: str, stop: threading.Event | None = None, **options: Any
) -> Iterator[WatchResult]:
    """Render `path` now and after every save that changed it; `options` as for `render_file`."""
    from manimagent.services.render import render_options

    target = _watched(path)
    render_options(
        ctx, **{key: value for key, value in options.items() if key != "output"}
    )  # a bad option stops it now
    last = None
    for _ in _saves(target, stop or threading.Event()):
        content = _read(target)
        if content is None:  # removed, or mid-rename: the next save brings it back
            continue
        digest = hashlib.sha256(content).hexdigest()
        if digest == last:
            yield WatchResult("unchanged")
            continue
        last = digest
        yield _render(ctx, target, options)


def _watched(path: str) -> Path:
    target = Path(path).expanduser()
    if not target.is_file():
        raise BadInput(
            f"{path} is not a file", hint="Give the Manim script to watch, e.g. manimagent watch scene.py"
        )
    return target.resolve()


def _saves(target: Path, stop: threading.Event) -> Iterator[None]:
    """Once at the start, then once per burst of changes to `target`. Its folder is watched (editors
    often save by writing a new file and renaming it over the old one) from before the first render
    on, by a thread: a save during a render is seen, and the saves of one render's time make one."""
    import queue

    changes: queue.Queue[bool] = queue.Queue()
    watcher = threading.Thread(
        target=_watch_folder, args=(target, stop, changes), daemon=True, name="manimagent-watch"
    )
    watcher.start()
    if not changes.get():  # the watcher is watching (False: it could not)
        raise BadInput(f"cannot watch {target.parent}", hint="Check that the folder is readable")
    try:
        yield None
        while not stop.is_set():
            try:
                changes.get(timeout=0.5)
            except queue.Empty:
                if not watcher.is_alive():
                    return
                continue
            while not changes.empty():  # several saves during the last render: render the newest once
                changes.get_nowait()
            yield None
    finally:
        stop.set()  # the caller stopped (Ctrl-C, or done): so does the watcher


def _watch_folder(target: Path, stop: threading.Event, changes: queue.Queue[bool]) -> None:
    """Put True on `changes` once watching (the first timeout says so), then once per burst of
    changes to `target`; False when the folder cannot be watched."""
    import watchfiles

    wanted, ready = str(target), False
    try:
        for batch in watchfiles.watch(
            target.parent,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
            rust_timeout=READY_MS,
            yield_on_timeout=True,
            recursive=False,
            raise_interrupt=False,
        ):
            if not ready or any(changed == wanted for _change, changed in batch):
                changes.put(True)
                ready = True
    except Exception:  # noqa: BLE001 - a folder that cannot be watched: the caller says so
        if not ready:
            changes.put(False)


def _read(target: Path) -> bytes | None:
    try:
        return target.read_bytes()
    except OSError:
        return None


def _render(ctx: Context, target: Path, options: dict[str, Any]) -> WatchResult:
    import time

    from manimagent.services.render import render_file

    started = time.monotonic()
    try:
        result = render_file(ctx, path=str(target), **options)
    except ManimagentError as exc:  # not a Manim script right now (a syntax error): say so, keep watching
        return WatchResult("error", error=exc.one_line(), seconds=time.monotonic() - started)
    kind = "rendered" if result.success else "error"
    return WatchResult(
        kind,
        result=result,
        error=None if result.success else result.error,
        seconds=time.monotonic() - started,
    )
