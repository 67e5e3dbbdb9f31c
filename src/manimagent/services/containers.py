"""Containers: named Docker render environments — add, build the image, start (warm), stop,
check, remove — and the docker engine of a render request.

The database row is the user's intent and memory; Docker is the truth about what runs.
Every status call reconciles the two: a container removed behind our back becomes "not running".
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from manimagent.context import Context
from manimagent.errors import (
    BadInput,
    ConfigError,
    Conflict,
    DockerFailed,
    DockerUnavailable,
    Forbidden,
    ManimagentError,
)
from manimagent.render.docker import DockerEngine, Limits
from manimagent.schemas import ContainerPublic, ContainerStatus, DoctorCheck, ImageBuildResult
from manimagent.services.ids import resolve_named
from manimagent.store.models import Container, utcnow

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MEMORY_PATTERN = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")
IMAGE_REPOSITORY = "manimagent-render"
OFFICIAL_REPOSITORY = "manimcommunity/manim"
CA_BUNDLE_NAME = "ca-bundle.crt"
BUILD_TIMEOUT = 3600
FAILED_STEP = re.compile(r"The command '.*' returned a non-zero code: (?P<code>\d+)")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LogSink = Callable[[str], None]


def manim_version() -> str:
    """The locally installed manim's version, read without importing manim."""
    try:
        return metadata.version("manim")
    except metadata.PackageNotFoundError:
        return "0.19.0"


def default_image(ctx: Context) -> str:
    return ctx.settings.docker_image or f"{OFFICIAL_REPOSITORY}:v{manim_version()}"


def default_build_tag() -> str:
    return f"{IMAGE_REPOSITORY}:{manim_version()}"


def _require_admin(ctx: Context, action: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"only administrators can {action} containers")


def _public(row: Container) -> ContainerPublic:
    return ContainerPublic.model_validate(row)


def _limits(row: Container) -> Limits:
    return Limits(memory=row.memory_limit, cpus=row.cpu_limit, pids=row.pids_limit)


def _docker_names(ctx: Context, row: Container) -> tuple[str, str]:
    """Docker's names for the row's container and volume, unique per manimagent home."""
    from manimagent.render.docker import warm_names

    scope = hashlib.sha256(str(ctx.settings.paths.data).encode()).hexdigest()[:8]
    return warm_names(f"{row.name}-{scope}")


def _connect() -> Any:
    from manimagent.render.docker import connect

    return connect()


# --- rows ----------------------------------------------------------------------------------------


def list_containers(ctx: Context) -> list[ContainerPublic]:
    with ctx.session() as session:
        return [_public(row) for row in session.exec(select(Container).order_by(Container.name)).all()]


def _validate_new(name: str, memory: str, cpus: float, pids: int) -> None:
    if not NAME_PATTERN.match(name):
        raise BadInput(
            f"invalid container name {name!r}",
            hint="Use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if not MEMORY_PATTERN.match(memory):
        raise BadInput(f"invalid memory limit {memory!r}", hint="Give a size such as 512m or 2g")
    if not 0 < cpus <= 256:
        raise BadInput(f"invalid CPU limit {cpus}", hint="Give a number of CPUs such as 1 or 2.5")
    if not 16 <= pids <= 65536:
        raise BadInput(f"invalid pids limit {pids}", hint="Give a number between 16 and 65536")


def add_container(
    ctx: Context,
    *,
    name: str,
    image: str | None = None,
    memory: str = "2g",
    cpus: float = 2.0,
    pids: int = 256,
) -> ContainerPublic:
    """A new Container row (nothing starts yet)."""
    _require_admin(ctx, "add")
    name = name.strip()
    _validate_new(name, memory, cpus, pids)
    with ctx.session() as session:
        if session.exec(select(Container).where(Container.name == name)).first() is not None:
            raise Conflict(
                f"a container named {name!r} already exists",
                hint="Pick another name or remove it with `manimagent containers rm`",
            )
        row = Container(
            name=name,
            image=image or default_image(ctx),
            memory_limit=memory.lower(),
            cpu_limit=cpus,
            pids_limit=pids,
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        return _public(row)


def _resolve(session: Session, ref: str) -> Container:
    return resolve_named(session, Container, ref, "container")


def _mark(session: Session, row: Container, *, running: bool, docker_id: str | None) -> None:
    row.is_running = running
    row.docker_id = docker_id
    row.last_checked_at = utcnow()
    row.updated_at = utcnow()
    session.add(row)
    session.commit()


# --- lifecycle -----------------------------------------------------------------------------------


def start_container(ctx: Context, *, ref: str) -> ContainerStatus:
    """Start the Container warm (creating its Docker container), or confirm it already runs."""
    from manimagent.render.docker import agent_state, find_container, require_image, start_warm_container

    _require_admin(ctx, "start")
    with ctx.session() as session:
        row = _resolve(session, ref)
        client = _connect()
        current = find_container(client, row.docker_id)
        if current is not None and current.status == "running" and agent_state(current) is not None:
            _mark(session, row, running=True, docker_id=current.id)
            return _status(row, "running", "already running")
        require_image(client, row.image)
        try:
            container_name, volume_name = _docker_names(ctx, row)
            container = start_warm_container(
                client,
                container_name=container_name,
                volume_name=volume_name,
                label=row.name,
                image=row.image,
                limits=_limits(row),
            )
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become one message
            raise _docker_error(f"cannot start container {row.name!r}", exc) from exc
        container.reload()
        running = container.status == "running"
        _mark(session, row, running=running, docker_id=container.id)
        state = agent_state(container) if running else None
        return _status(row, container.status, _agent_message(state) if running else _exit_message(container))


def stop_container(ctx: Context, *, ref: str) -> ContainerStatus:
    """Stop and remove the Docker container (its /work is RAM; nothing is lost). The row stays."""
    from manimagent.render.docker import remove_quietly

    _require_admin(ctx, "stop")
    with ctx.session() as session:
        row = _resolve(session, ref)
        client = _connect()
        container_name, volume_name = _docker_names(ctx, row)
        remove_quietly(client, row.docker_id, None)
        remove_quietly(client, container_name, volume_name)
        _mark(session, row, running=False, docker_id=None)
        return _status(row, "stopped", "stopped")


def check_status(ctx: Context, *, ref: str) -> ContainerStatus:
    """Ask Docker whether the container runs and record the answer (gone means not running)."""
    from manimagent.render.docker import agent_state, find_container

    with ctx.session() as session:
        row = _resolve(session, ref)
        client = _connect()
        container = find_container(client, row.docker_id)
        if container is None:
            _mark(session, row, running=False, docker_id=None)
            return _status(
                row, "missing", "no Docker container (never started, or removed outside manimagent)"
            )
        running = container.status == "running"
        _mark(session, row, running=running, docker_id=container.id)
        message = _agent_message(agent_state(container)) if running else _exit_message(container)
        return _status(row, container.status, message)


def remove_container(ctx: Context, *, ref: str) -> ContainerStatus:
    """Remove the row and, when Docker is reachable, its Docker container and volume."""
    from manimagent.render.docker import remove_quietly

    _require_admin(ctx, "remove")
    with ctx.session() as session:
        row = _resolve(session, ref)
        message = "removed"
        try:
            client = _connect()
            container_name, volume_name = _docker_names(ctx, row)
            remove_quietly(client, row.docker_id, None)
            remove_quietly(client, container_name, volume_name)
        except DockerUnavailable:
            message = "removed from the database; Docker was unreachable, so its container (if any) is left"
        status = ContainerStatus(
            success=True, name=row.name, is_running=False, docker_id=None, status="removed", message=message
        )
        session.delete(row)
        session.commit()
        return status


def _status(row: Container, status: str, message: str) -> ContainerStatus:
    return ContainerStatus(
        success=True,
        name=row.name,
        is_running=row.is_running,
        docker_id=row.docker_id,
        status=status,
        message=message,
    )


def _agent_message(state: dict[str, Any] | None) -> str:
    if state is None:
        return "running; the render agent does not answer, renders use plain manim"
    if not state.get("preloaded"):
        return f"running; the render agent could not preload manim ({state.get('error')})"
    return f"running; render agent ready with manim preloaded ({state.get('jobs', 0)} jobs in progress)"


def _exit_message(container: Any) -> str:
    state = container.attrs.get("State", {})
    reason = " (out of memory)" if state.get("OOMKilled") else ""
    return f"not running: {state.get('Status', 'unknown')}, exit code {state.get('ExitCode')}{reason}"


def _docker_error(what: str, exc: BaseException) -> ManimagentError:
    if isinstance(exc, ManimagentError):
        return exc
    text = " ".join(str(exc).split())[:300]
    return DockerFailed(
        f"{what}: {text}", hint="Check `docker info` and `manimagent containers check-status`"
    )


# --- choosing the engine ---------------------------------------------------------------------------


def _pick_row(session: Session, ctx: Context, container_ref: str | None) -> Container:
    ref = container_ref or ctx.settings.container
    if ref:
        return _resolve(session, ref)
    rows = session.exec(select(Container).limit(2)).all()
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise BadInput(
            "no container is configured for --engine docker",
            hint="Add one with `manimagent containers add NAME [--image IMG]`",
        )
    raise BadInput(
        "several containers are configured",
        hint="Pass --container NAME, or set render.container in config.toml",
    )


def engine_for(ctx: Context, container_ref: str | None) -> DockerEngine:
    """The docker engine of a Container: warm (exec in its running container) or fresh per render."""
    from manimagent.render.docker import find_container, require_image

    with ctx.session() as session:
        row = _pick_row(session, ctx, container_ref)
        client = _connect()
        container = find_container(client, row.docker_id)
        running = container is not None and container.status == "running"
        if running != row.is_running:
            _mark(session, row, running=running, docker_id=container.id if container is not None else None)
        if not running:
            require_image(client, row.image)
        return DockerEngine(
            image=row.image,
            container_name=row.name,
            docker_ref=container.id if container is not None and running else None,
            limits=_limits(row),
        )


# --- the image -----------------------------------------------------------------------------------


def _build_context(folder: Path, ca_bundle: str | None) -> None:
    dockerfile = resources.files("manimagent.render").joinpath("assets/Dockerfile").read_bytes()
    (folder / "Dockerfile").write_bytes(dockerfile)
    target = folder / CA_BUNDLE_NAME
    if ca_bundle is None:
        target.write_bytes(b"")
        return
    source = Path(ca_bundle).expanduser()
    if not source.is_file():
        raise BadInput(
            f"CA bundle {ca_bundle} is not a readable file",
            hint="Give a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt",
        )
    shutil.copyfile(source, target)


def _build_args(
    base_image: str | None,
    version: str,
    pip_index_url: str | None,
    pip_extra_index_url: str | None,
    pip_trusted_host: str | None,
) -> dict[str, str]:
    args = {"MANIM_VERSION": version}
    optional = {
        "BASE_IMAGE": base_image,
        "PIP_INDEX_URL": pip_index_url,
        "PIP_EXTRA_INDEX_URL": pip_extra_index_url,
        "PIP_TRUSTED_HOST": pip_trusted_host,
    }
    args.update({key: value for key, value in optional.items() if value})
    return args


def build_image(
    ctx: Context,
    *,
    tag: str | None = None,
    base_image: str | None = None,
    ca_bundle: str | None = None,
    manim_version_: str | None = None,
    pip_index_url: str | None = None,
    pip_extra_index_url: str | None = None,
    pip_trusted_host: str | None = None,
    on_log: LogSink | None = None,
) -> ImageBuildResult:
    """Build the render image from the packaged Dockerfile; the build log goes to `on_log`."""
    from manimagent.render.docker import connect

    _require_admin(ctx, "build images for")
    tag = tag or default_build_tag()
    version = manim_version_ or manim_version()
    args = _build_args(base_image, version, pip_index_url, pip_extra_index_url, pip_trusted_host)
    client = connect(timeout=BUILD_TIMEOUT)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="manimagent-build-") as folder:
        _build_context(Path(folder), ca_bundle)
        stream = client.api.build(
            path=folder, tag=tag, buildargs=args, rm=True, forcerm=True, pull=False, decode=True
        )
        _follow_build(stream, on_log or (lambda _line: None))
    image = client.images.get(tag)
    return ImageBuildResult(
        success=True,
        tag=tag,
        image_id=image.id,
        base_image=args.get("BASE_IMAGE", "python:3.11-slim-bookworm"),
        manim_version=version,
        duration=round(time.monotonic() - started, 1),
    )


def _follow_build(stream: Any, on_log: LogSink) -> None:
    recent: list[str] = []
    for chunk in stream:
        text = ANSI_ESCAPE.sub("", chunk.get("stream") or chunk.get("status") or "")
        for line in text.splitlines():
            if line.strip():
                on_log(line)
                recent = [*recent[-40:], line]
        if "error" in chunk:
            raise _build_failure(chunk["error"], recent)


def _build_failure(error: str, recent: list[str]) -> ManimagentError:
    message = " ".join(error.split())
    step = FAILED_STEP.search(message)
    if step:
        message = f"a build step failed with exit code {step['code']}"
    message = message[:400]
    seen = " ".join([message, *recent]).lower()
    if any(
        marker in seen
        for marker in (
            "pull access denied",
            "manifest unknown",
            "failed to resolve reference",
            "no such host",
            "repository does not exist",
        )
    ):
        # a missing image is missing environment (exit 3), not a failed build
        return ConfigError(
            f"the base image is missing and cannot be pulled: {message}",
            hint=(
                "Pass --base-image with an image the engine has (see `docker images`;"
                " scripts/docker-base-image.sh makes one)"
            ),
        )
    elif "certificate_verify_failed" in seen or "certificate verify failed" in seen or "sslerror" in seen:
        hint = (
            "pip met a TLS-inspecting proxy: pass --ca-bundle FILE (e.g. /etc/ssl/certs/ca-certificates.crt)"
        )
    else:
        hint = "See the build log above; behind a proxy try --ca-bundle FILE and --pip-index-url URL"
    return ManimagentError(f"image build failed: {message}", hint=hint)


# --- doctor --------------------------------------------------------------------------------------


def docker_status() -> dict[str, Any]:
    """Whether Docker answers, and which manimagent and manim images it has."""
    from manimagent.render.docker import connect, docker_host

    try:
        client = connect(timeout=10)
        version = client.version().get("Version", "?")
        tags = sorted(tag for image in client.images.list() for tag in image.tags)
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not raise
        message = exc.one_line() if isinstance(exc, ManimagentError) else str(exc)
        return {"reachable": False, "host": docker_host(), "error": message, "images": []}
    wanted = [tag for tag in tags if tag.startswith((f"{IMAGE_REPOSITORY}:", f"{OFFICIAL_REPOSITORY}:"))]
    return {"reachable": True, "host": docker_host(), "version": version, "images": wanted, "error": None}


def doctor_checks() -> list[DoctorCheck]:
    status = docker_status()
    if not status["reachable"]:
        return [
            DoctorCheck(
                name="docker",
                ok=False,
                required=False,
                detail=status["error"],
                fix="Only for --engine docker: start Docker or set DOCKER_HOST",
            )
        ]
    checks = [
        DoctorCheck(
            name="docker", ok=True, required=False, detail=f"engine {status['version']} at {status['host']}"
        )
    ]
    images = status["images"]
    checks.append(
        DoctorCheck(
            name="docker images",
            ok=bool(images),
            required=False,
            detail=", ".join(images) if images else "no manimagent-render or manimcommunity/manim image",
            fix=None if images else "manimagent containers build (or docker pull manimcommunity/manim)",
        )
    )
    return checks
