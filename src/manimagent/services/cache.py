"""`cache info` and `cache clear`: the render cache (render/cache.py) under the home."""

from __future__ import annotations

from manimagent.context import Context
from manimagent.render.cache import RenderCache
from manimagent.render.sandbox import parse_size
from manimagent.schemas import CacheCleared, CacheInfo


def _cache(ctx: Context) -> RenderCache:
    return RenderCache(
        ctx.settings.paths.render_cache, parse_size(ctx.settings.cache_max_size, "cache.max_size")
    )


def cache_info(ctx: Context) -> CacheInfo:
    cache = _cache(ctx)
    entries = cache.entries()
    return CacheInfo(
        path=str(cache.root),
        entries=len(entries),
        size=sum(entry.size for entry in entries),
        max_size=cache.max_size,
        enabled=ctx.settings.cache_enabled,
    )


def cache_clear(ctx: Context) -> CacheCleared:
    """Empty the cache. Videos of executions are separate links to the same files: none is lost."""
    return CacheCleared(removed=_cache(ctx).clear())
