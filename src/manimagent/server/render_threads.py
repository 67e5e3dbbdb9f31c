"""The server's render threads (SQLite): generate and execute run here, off the event loop,
`settings.workers` at a time, and the scripts they render are marked busy meanwhile."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger("manimagent.server")
T = TypeVar("T")


class RenderThreads:
    """A thread pool for the renders of `serve`, and which scripts it is rendering."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="manimagent-render"
        )
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
