"""`manimagent containers ...`: Docker render environments — list, add, build, start, stop, check, rm."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output

app = typer.Typer(help="Docker render containers: add, build the image, start warm, stop, check, remove.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="Container name (or numeric id).")]


def _ctx():
    from manimagent.services.context import local_context

    return local_context()


def _print_status(status, json_: bool) -> None:
    if json_:
        return output.json(status)
    output.fields([("name", status.name), ("running", "yes" if status.is_running else "no"), ("status", status.status), ("detail", status.message)])


@app.command("list")
def list_(json_: JsonOption = False) -> None:
    """The configured containers (the state last recorded; `check-status` asks Docker)."""
    from manimagent.services.containers import list_containers

    rows = list_containers(_ctx())
    if json_:
        return output.json(rows)
    output.table(
        ["id", "name", "image", "running", "limits", "last checked"],
        [
            (row.id, row.name, row.image, "yes" if row.is_running else "no",
             f"{row.memory_limit}, {row.cpu_limit:g} cpu, {row.pids_limit} pids", row.last_checked_at or "-")
            for row in rows
        ],
    )


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A new name: letters, digits, '.', '_', '-'.")],
    image: Annotated[Optional[str], typer.Option("--image", help="Image to render with (default: config docker.image, else manimcommunity/manim at the local manim version).")] = None,
    memory: Annotated[str, typer.Option("--memory", help="Memory limit, swap included (e.g. 512m, 2g).")] = "2g",
    cpus: Annotated[float, typer.Option("--cpus", help="CPU limit.")] = 2.0,
    pids: Annotated[int, typer.Option("--pids", help="Process limit (stops fork bombs).")] = 256,
    json_: JsonOption = False,
) -> None:
    """Add a container; nothing runs until `start` (renders use a fresh container meanwhile)."""
    from manimagent.services.containers import add_container

    row = add_container(_ctx(), name=name, image=image, memory=memory, cpus=cpus, pids=pids)
    if json_:
        return output.json(row)
    output.info(f"Added container {row.name} ({row.image}). Start it warm with `manimagent containers start {row.name}`.")


@app.command("build")
def build(
    tag: Annotated[Optional[str], typer.Option("--tag", "-t", help="Image tag (default: manimagent-render:<local manim version>).")] = None,
    base_image: Annotated[Optional[str], typer.Option("--base-image", help="FROM image: a Python image or bare Debian bookworm (default python:3.11-slim-bookworm).")] = None,
    ca_bundle: Annotated[Optional[str], typer.Option("--ca-bundle", help="PEM CA bundle for pip during the build (TLS-inspecting proxies).")] = None,
    manim_version: Annotated[Optional[str], typer.Option("--manim-version", help="manim version to install (default: the local one).")] = None,
    pip_index_url: Annotated[Optional[str], typer.Option("--pip-index-url", help="pip index for the build (a mirror or proxy).")] = None,
    pip_extra_index_url: Annotated[Optional[str], typer.Option("--pip-extra-index-url", help="Extra pip index for the build.")] = None,
    pip_trusted_host: Annotated[Optional[str], typer.Option("--pip-trusted-host", help="Host pip may reach without TLS verification.")] = None,
    json_: JsonOption = False,
) -> None:
    """Build the render image (manim, LaTeX, fonts; non-root user) from the packaged Dockerfile."""
    from manimagent.services.containers import build_image

    result = build_image(
        _ctx(), tag=tag, base_image=base_image, ca_bundle=ca_bundle, manim_version_=manim_version,
        pip_index_url=pip_index_url, pip_extra_index_url=pip_extra_index_url, pip_trusted_host=pip_trusted_host,
        on_log=output.info,
    )
    if json_:
        return output.json(result)
    output.success(f"Built {result.tag} ({result.image_id[:19]}) in {result.duration:.0f} s.")


@app.command("start")
def start(name: NameArgument, json_: JsonOption = False) -> None:
    """Start the container warm: manim preloaded, renders run by `docker exec`."""
    from manimagent.services.containers import start_container

    _print_status(start_container(_ctx(), ref=name), json_)


@app.command("stop")
def stop(name: NameArgument, json_: JsonOption = False) -> None:
    """Stop the container (its Docker container is removed; the entry stays)."""
    from manimagent.services.containers import stop_container

    _print_status(stop_container(_ctx(), ref=name), json_)


@app.command("check-status")
def check_status(name: NameArgument, json_: JsonOption = False) -> None:
    """Ask Docker whether the container runs, and record it."""
    from manimagent.services.containers import check_status as check

    _print_status(check(_ctx(), ref=name), json_)


@app.command("rm")
def rm(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOption = False,
) -> None:
    """Remove the container entry and its Docker container."""
    from manimagent.errors import BadInput
    from manimagent.services.containers import remove_container

    ctx = _ctx()
    if not yes:
        if not output.err.is_terminal:
            raise BadInput("refusing to remove without confirmation", hint="Pass --yes")
        typer.confirm(f"Remove container {name} and its Docker container?", abort=True, err=True)
    status = remove_container(ctx, ref=name)
    if json_:
        return output.json(status)
    output.info(f"Removed container {status.name}.")
