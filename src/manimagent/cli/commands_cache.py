"""`manimagent cache info` and `cache clear`: the render cache of finished scenes."""

from __future__ import annotations

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output

app = typer.Typer(
    help="The render cache: finished scenes reused when nothing that decides them changed.",
    no_args_is_help=True,
)


@app.command("info")
def info(json_: JsonOption = False) -> None:
    """Where the cache is, its entries and size (cache.max_size evicts the least recently used)."""
    from manimagent.context import local_context
    from manimagent.services.cache import cache_info

    found = cache_info(local_context())
    if json_:
        output.json(found)
        return
    state = "on" if found.enabled else "off (cache.enabled = false)"
    output.print(
        f"{found.entries} scene(s), {_size(found.size)} of {_size(found.max_size)}; cache {state}\n"
        f"{found.path}"
    )


@app.command("clear")
def clear(json_: JsonOption = False) -> None:
    """Empty the cache (the videos of your executions stay where they are)."""
    from manimagent.context import local_context
    from manimagent.services.cache import cache_clear

    done = cache_clear(local_context())
    if json_:
        output.json(done)
        return
    output.print(f"removed {done.removed} cached scene(s)")


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
