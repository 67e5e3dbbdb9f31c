"""`manimagent containers ...`: Docker render environments — list, add, build, start, stop, check, rm.

With --server: list, start, stop and check-status act on the server's containers."""

from __future__ import annotations

from typing import Annotated

import typer

from manimagent.cli.backend import backend_for, machine_backend
from manimagent.cli.options import JsonOption, ServerOption
from manimagent.cli.output import output

app = typer.Typer(
    help="Docker render containers: add, build the image, start warm, stop, check, remove.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Container name (or numeric id).")]


def _print_status(status, json_: bool) -> None:
    if json_:
        return output.json(status)
    output.fields(
        [
            ("name", status.name),
            ("running", "yes" if status.is_running else "no"),
            ("status", status.status),
            ("detail", status.message),
        ]
    )


@app.command("list")
def list_(server: ServerOption = None, json_: JsonOption = False) -> None:
    """The configured containers (the state last recorded; `check-status` asks Docker)."""
    rows = backend_for(server).containers.list_containers()
    if json_:
        return output.json(rows)
    output.table(
        ["id", "name", "image", "running", "limits", "last checked"],
        [
            (
                row.id,
                row.name,
                row.image,
                "yes" if row.is_running else "no",
                f"{row.memory_limit}, {row.cpu_limit:g} cpu, {row.pids_limit} pids",
                row.last_checked_at or "-",
            )
            for row in rows
        ],
    )


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A new name: letters, digits, '.', '_', '-'.")],
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help=(
                "Image to render with (default: config docker.image, else manimcommunity/manim at the "
                "local manim version)."
            ),
        ),
    ] = None,
    memory: Annotated[
        str, typer.Option("--memory", help="Memory limit, swap included (e.g. 512m, 2g).")
    ] = "2g",
    cpus: Annotated[float, typer.Option("--cpus", help="CPU limit.")] = 2.0,
    pids: Annotated[int, typer.Option("--pids", help="Process limit (stops fork bombs).")] = 256,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Add a container; nothing runs until `start` (renders use a fresh container meanwhile)."""
    containers = machine_backend(server, "add_container").containers
    row = containers.add_container(name=name, image=image, memory=memory, cpus=cpus, pids=pids)
    if json_:
        return output.json(row)
    output.info(
        f"Added container {row.name} ({row.image}). Start it warm with `manimagent containers start "
        f"{row.name}`."
    )


@app.command("build")
def build(
    tag: Annotated[
        str | None,
        typer.Option("--tag", "-t", help="Image tag (default: manimagent-render:<local manim version>)."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(
            "--base-image",
            help="FROM image: a Python image or bare Debian bookworm (default python:3.11-slim-bookworm).",
        ),
    ] = None,
    ca_bundle: Annotated[
        str | None,
        typer.Option("--ca-bundle", help="PEM CA bundle for pip during the build (TLS-inspecting proxies)."),
    ] = None,
    manim_version: Annotated[
        str | None,
        typer.Option("--manim-version", help="manim version to install (default: the local one)."),
    ] = None,
    pip_index_url: Annotated[
        str | None, typer.Option("--pip-index-url", help="pip index for the build (a mirror or proxy).")
    ] = None,
    pip_extra_index_url: Annotated[
        str | None, typer.Option("--pip-extra-index-url", help="Extra pip index for the build.")
    ] = None,
    pip_trusted_host: Annotated[
        str | None, typer.Option("--pip-trusted-host", help="Host pip may reach without TLS verification.")
    ] = None,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Build the render image (manim, LaTeX, fonts; non-root user) from the packaged Dockerfile."""
    result = machine_backend(server, "build_image").containers.build_image(
        tag=tag,
        base_image=base_image,
        ca_bundle=ca_bundle,
        manim_version_=manim_version,
        pip_index_url=pip_index_url,
        pip_extra_index_url=pip_extra_index_url,
        pip_trusted_host=pip_trusted_host,
        on_log=output.info,
    )
    if json_:
        return output.json(result)
    output.success(f"Built {result.tag} ({result.image_id[:19]}) in {result.duration:.0f} s.")


@app.command("start")
def start(name: NameArgument, server: ServerOption = None, json_: JsonOption = False) -> None:
    """Start the container warm: manim preloaded, renders run by `docker exec`."""
    _print_status(backend_for(server).containers.start_container(ref=name), json_)


@app.command("stop")
def stop(name: NameArgument, server: ServerOption = None, json_: JsonOption = False) -> None:
    """Stop the container (its Docker container is removed; the entry stays)."""
    _print_status(backend_for(server).containers.stop_container(ref=name), json_)


@app.command("check-status")
def check_status(name: NameArgument, server: ServerOption = None, json_: JsonOption = False) -> None:
    """Ask Docker whether the container runs, and record it."""
    _print_status(backend_for(server).containers.check_status(ref=name), json_)


@app.command("rm")
def rm(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Remove the container entry and its Docker container."""
    from manimagent.errors import BadInput

    containers = machine_backend(server, "remove_container").containers  # with --server: fails before asking
    if not yes:
        if not output.err.is_terminal:
            raise BadInput("refusing to remove without confirmation", hint="Pass --yes")
        typer.confirm(f"Remove container {name} and its Docker container?", abort=True, err=True)
    status = containers.remove_container(ref=name)
    if json_:
        return output.json(status)
    output.info(f"Removed container {status.name}.")
