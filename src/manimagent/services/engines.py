"""Choosing the render engine of a request: local, or docker with a container."""

from __future__ import annotations

from manimagent.context import Context
from manimagent.errors import BadInput
from manimagent.render.base import RenderEngine

ENGINES = ("local", "docker")


def engine_name(ctx: Context, engine: str | None, container: str | None) -> str:
    """The engine a request names: --engine, else docker for --container, else the settings'."""
    return (engine or ("docker" if container else ctx.settings.engine) or "local").strip().lower()


def select_engine(ctx: Context, engine: str | None, container: str | None) -> RenderEngine:
    name = engine_name(ctx, engine, container)
    if name not in ENGINES:
        raise BadInput(f"unknown engine {name!r}", hint=f"Use one of: {', '.join(ENGINES)}")
    if name == "docker":
        from manimagent.services.containers import engine_for

        return engine_for(ctx, container)
    if container:
        raise BadInput("--container only applies to --engine docker")
    from manimagent.render.local import POOL_SETTING, LocalEngine
    from manimagent.render.sandbox import policy_from_settings

    owner = (
        ("local" if ctx.user_id is None else f"user-{ctx.user_id}")
        if ctx.settings.values.get(POOL_SETTING)
        else None
    )
    return LocalEngine(policy=policy_from_settings(ctx.settings), pool_owner=owner)
