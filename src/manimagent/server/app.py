"""The FastAPI application factory: settings, render threads, rate limiter, error handlers, routers."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from manimagent import __version__
from manimagent.context import Context
from manimagent.errors import ConfigError
from manimagent.render.local import POOL_SETTING
from manimagent.render.sandbox import REQUIRE_SANDBOX
from manimagent.server import (
    queue_routes,
    routes_auth,
    routes_containers,
    routes_events,
    routes_executions,
    routes_media,
    routes_omega,
    routes_providers,
    routes_scripts,
)
from manimagent.server.bodylimit import BodyLimitMiddleware
from manimagent.server.handlers import install_handlers
from manimagent.server.openapi import install_openapi
from manimagent.server.queue import queue_enabled, serving_queue
from manimagent.server.render_threads import RenderThreads
from manimagent.server.sweep import Sweeper
from manimagent.server.unavailable import UnavailableHomeMiddleware
from manimagent.services.auth import RateLimiter, check_token_settings, secret_key
from manimagent.services.executions import fail_all_queued
from manimagent.settings import SERVE_PROCESSES_ENV, Settings, load_settings

log = logging.getLogger("manimagent.server")
ROUTERS = (
    routes_auth,
    routes_scripts,
    routes_executions,
    routes_events,
    routes_providers,
    routes_containers,
    routes_media,
    routes_omega,
    queue_routes,
)
DESCRIPTION = (
    "Turn a sentence into a rendered Manim video. Sign in with POST /api/auth/login/ and send the "
    'access token as `Authorization: Bearer <token>`. Errors are `{"error": ...}`.'
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app over `settings` (default: the current environment's)."""
    settings = settings or load_settings()
    settings.values[REQUIRE_SANDBOX] = not settings.allow_unsandboxed_renders
    settings.values[POOL_SETTING] = True  # warm render agents, one per user
    check_token_settings(settings)
    app = FastAPI(title="manimagent", version=__version__, description=DESCRIPTION, lifespan=_lifespan)
    app.state.settings = settings
    app.state.unavailable = _prepare_home(settings)
    app.state.limiter = RateLimiter()
    app.state.render_threads = RenderThreads(settings.workers)
    app.state.queue = None  # the procrastinate app while serving on PostgreSQL (server/queue.py)
    install_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    _add_middleware(app, settings)
    install_openapi(app)
    return app


def _prepare_home(settings: Settings) -> ConfigError | None:
    """Make the home's folders and the signing secret now, not on the first request; a home that
    cannot be used is kept as the 503 every request then answers (the server still starts)."""
    try:
        settings.paths.ensure()
        secret_key(settings)
    except ConfigError as exc:
        log.error("the home cannot be used: %s", exc.one_line())
        return exc
    return None


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnavailableHomeMiddleware)
    proxies = forwarded_allow_ips(settings)
    if proxies:  # only these peers' X-Forwarded-For / -Proto are believed; by default nobody's
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    origins = cors_origins(settings)
    if origins:  # added last: outermost, so even a 413 carries the CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )


def forwarded_allow_ips(settings: Settings) -> list[str]:
    """`server.forwarded_allow_ips`: the proxies (addresses, networks, or `*`) trusted to say who
    the client is."""
    value = settings.values.get("forwarded_allow_ips") or ()
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def cors_origins(settings: Settings) -> list[str]:
    """`server.cors_origins` as a list (settings give a tuple; a Settings built by hand may hold a string)."""
    value = settings.cors_origins or ()
    items = value.split(",") if isinstance(value, str) else value
    return [origin.strip().rstrip("/") for origin in items if origin.strip()]


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Queued renders live in this process: rows left queued by an earlier one fail at start,
    and those still queued at a stop fail then (renders under way finish first). With
    `serve --workers N` the parent process does that once for all. The sweep runs meanwhile."""
    ctx = Context(settings=app.state.settings, is_admin=True)
    if queue_enabled(ctx.settings):  # queued renders are jobs in the database: they outlive this process
        async with serving_queue(app):
            _freeze_startup_heap()
            yield
        return
    alone = not os.environ.get(SERVE_PROCESSES_ENV)
    await asyncio.to_thread(_report_sandbox, app.state.settings)
    if alone:
        await asyncio.to_thread(_fail_queued, ctx, "queued by an earlier server run")
    sweeper = Sweeper(ctx, interval=ctx.settings.sweep_seconds)
    sweeper.start()
    _freeze_startup_heap()
    yield
    app.state.render_threads.shutdown()
    _stop_render_pool()
    sweeper.stop()
    if alone:
        await asyncio.to_thread(_fail_queued, ctx, "still queued when the server stopped")


def _freeze_startup_heap() -> None:
    """What start-up made (modules, the app, the ORM's mappers) lives as long as the process: out
    of the cyclic collector's way, its full collections stop walking it in the middle of requests."""
    gc.collect()
    gc.freeze()


def _fail_queued(ctx: Context, what: str) -> None:
    """fail_all_queued, logged; a store that cannot be used is logged too (requests answer 503)."""
    from manimagent.store.db import store_fault

    try:
        count = fail_all_queued(ctx)
    except Exception as exc:  # noqa: BLE001 - a damaged store must not keep the server from starting
        fault = exc if isinstance(exc, ConfigError) else store_fault(exc)
        if fault is None:
            raise
        log.error("the store cannot be used: %s", fault.one_line())
        return
    if count:
        log.warning("%d render(s) %s were marked failed", count, what)


def _report_sandbox(settings: Settings) -> None:
    """Say at start what contains local renders; without a sandbox they are refused (or allowed)."""
    from manimagent.errors import ManimagentError
    from manimagent.render.process import probe
    from manimagent.render.sandbox import policy_from_settings

    try:
        found = probe(sys.executable, policy_from_settings(settings))
    except ManimagentError as exc:
        log.warning("local renders are refused: %s (%s)", exc.message, exc.hint)
        return
    if found.sandboxed:
        log.info("local renders run in the %s sandbox", found.kind)
    else:
        log.warning(
            "local renders run WITHOUT a sandbox (%s): server.allow_unsandboxed_renders is set", found.reason
        )


def _stop_render_pool() -> None:
    """The warm render agents end with the server (they would die with it anyway; this also
    removes their folders)."""
    pool = sys.modules.get("manimagent.render.pool")
    if pool is not None:
        pool.POOL.shutdown()
