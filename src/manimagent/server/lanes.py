"""The store lane: the short store work of the hot endpoints (authenticating a token, a page of a
list, one row) runs on a few threads, first come first served.

A sync endpoint or dependency runs on AnyIO's default pool of 40 threads. Under load, 40 threads
take turns at one GIL with the event loop, which then answers late: at 50 clients the slowest 1% of
list requests waited 2.5x the median. Four threads per process are enough to keep SQLite and the
cores busy, and a request waits its turn in order instead. Work that may block for long (an LLM,
a render, SMTP, Docker) stays off this lane, so it can never hold up the reads."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.requests import HTTPConnection

T = TypeVar("T")

STORE_LANE_THREADS = 4


def store_lane(connection: HTTPConnection) -> CapacityLimiter:
    """The app's lane, made on first use inside its event loop."""
    state = connection.app.state
    lane = getattr(state, "store_lane", None)
    if lane is None:
        lane = state.store_lane = CapacityLimiter(STORE_LANE_THREADS)
    return lane


async def in_store_lane(
    connection: HTTPConnection, work: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """`work(*args, **kwargs)` on one of the lane's threads, after the requests that came first."""
    return await anyio.to_thread.run_sync(
        functools.partial(work, *args, **kwargs), limiter=store_lane(connection)
    )
