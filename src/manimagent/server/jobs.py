"""The render worker pool: generate and execute run here, off the event loop, `settings.workers` at a time."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, TypeVar

from manimagent.events import Event, EventSink, RenderStarted
from manimagent.services.context import Context

log = logging.getLogger("manimagent.server")
T = TypeVar("T")


class Jobs:
    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="manimagent-worker")
        self._rendering: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hold(self, script_id: str) -> None:
        """Mark a script busy while a job renders it (it cannot be deleted meanwhile)."""
        with self._lock:
            self._rendering[script_id] += 1

    def release(self, script_id: str) -> None:
        with self._lock:
            self._rendering[script_id] -= 1
            if self._rendering[script_id] <= 0:
                del self._rendering[script_id]

    def is_rendering(self, script_id: str) -> bool:
        with self._lock:
            return script_id in self._rendering

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn` in the pool and wait for its result (the request waits too)."""
        return await asyncio.wrap_future(self.start(fn, *args, **kwargs))

    def start(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue `fn` in the pool; failures of jobs nobody waits for are logged."""
        future = self._executor.submit(functools.partial(fn, *args, **kwargs))
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("background job failed: %s: %s", type(exc).__name__, exc)


EXECUTION_ID_WAIT = 5.0  # seconds `"wait": false` waits for the first attempt's execution id


async def queue_render(jobs: Jobs, ctx: Context, fn: Callable[..., T], /, **kwargs: Any) -> tuple[str | None, T | None]:
    """Start a render in the background without waiting for it.

    Returns (execution id, None) once its first attempt started, (None, None) when it is still
    queued behind other renders after EXECUTION_ID_WAIT, and (None, result) when it finished
    before any attempt started; a failure before the first attempt (unknown id, bad option) raises.
    """
    loop = asyncio.get_running_loop()
    started: asyncio.Future[str | None] = loop.create_future()
    future = jobs.start(fn, replace(ctx, events=_watch_start(loop, started, ctx.events)), **kwargs)
    future.add_done_callback(lambda _done: _settle_threadsafe(loop, started, None))
    try:
        execution_id = await asyncio.wait_for(asyncio.shield(started), EXECUTION_ID_WAIT)
    except asyncio.TimeoutError:
        return None, None
    if execution_id is None:
        return None, future.result()
    return execution_id, None


def _watch_start(loop: asyncio.AbstractEventLoop, started: asyncio.Future, downstream: EventSink) -> EventSink:
    def sink(event: Event) -> None:
        if isinstance(event, RenderStarted):
            _settle_threadsafe(loop, started, event.execution_id)
        downstream(event)

    return sink


def _settle_threadsafe(loop: asyncio.AbstractEventLoop, started: asyncio.Future, value: str | None) -> None:
    def settle() -> None:
        if not started.done():
            started.set_result(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the server is shutting down and its loop is closed
        pass
