"""The docker engine: each render in a hardened container, a fresh one per job or a warm one
whose render agent has manim preloaded and forks a child per job.

Files go in and out with put_archive/get_archive only (no bind mounts), so a remote DOCKER_HOST
works. The root filesystem is read-only and Docker cannot put an archive into a plain tmpfs
mount, so /work is a tmpfs-backed volume (RAM, gone with the container); /tmp is a tmpfs.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from manimagent.errors import DockerUnavailable, ImageMissing, ManimagentError
from manimagent.render import agent_host
from manimagent.render.base import (
    SCRIPT_NAME,
    ProgressSink,
    RenderFailure,
    RenderRequest,
    RenderResult,
    find_outputs,
    manim_arguments,
    missing_output_failure,
    timeout_failure,
)
from manimagent.render.layout import (
    FINDINGS_FILE,
    LayoutFinding,
    hook_source,
    parse_findings,
)
from manimagent.render.layout import (
    MAX_FILE_BYTES as MAX_FINDINGS_BYTES,
)
from manimagent.render.logparse import ProgressTracker, parse_failure
from manimagent.render.process import THREAD_LIMITS

CONTAINER_USER = f"{agent_host.JOB_UID}:{agent_host.JOB_UID}"
LABEL_ROLE = "manimagent.role"
LABEL_NAME = "manimagent.container"
WORK_SIZE = "2g"
TMP_MOUNT = "rw,nosuid,nodev,noexec,size=256m"
EXEC_GRACE = 20.0  # seconds past the job's own timeout before the host gives up on the agent
# A fresh container's main process sleeps this long past the job's timeout, then the container
# stops by itself, even when the process that started it died; stopped ones are swept.
FRESH_MARGIN = EXEC_GRACE + 60.0
LEFTOVER_AGE = (
    60.0  # seconds a job container must have been stopped (or never started) before a sweep removes it
)
MAX_LOG_CHARS = 1_000_000
MAX_FETCH_BYTES = 4 << 30
# The same output settings as the local engine, fixed at container start because the warm
# agent's preloaded manim reads them at import.
CONTAINER_ENV = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "COLUMNS": "200",
    **THREAD_LIMITS,
}
UNREACHABLE_HINT = (
    "Start Docker (e.g. `sudo systemctl start docker`) or set DOCKER_HOST to a reachable engine"
)


@dataclass(frozen=True)
class Limits:
    """Resource limits of a render container (a warm container's jobs share them)."""

    memory: str = "2g"
    cpus: float = 2.0
    pids: int = 256


# --- the Docker connection ---------------------------------------------------------------------


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "the local Docker socket"


def connect(timeout: float = 60.0) -> Any:
    """A docker client that has answered a ping, or DockerUnavailable."""
    import docker

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several unrelated types here
        raise DockerUnavailable(
            f"cannot reach Docker at {docker_host()}: {_root_cause(exc)}", hint=UNREACHABLE_HINT
        ) from exc
    return client


def _root_cause(exc: BaseException) -> str:
    """The innermost OS-level reason in an exception chain, e.g. 'No such file or directory'."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        stack.extend([current.__cause__, current.__context__, *current.args])
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def docker_failure(exc: BaseException) -> ManimagentError | None:
    """An SDK error in the middle of a render as one of ours (connection lost: DockerUnavailable)."""
    import docker
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return DockerUnavailable(
            f"lost the connection to Docker at {docker_host()}: {_root_cause(exc)}", hint=UNREACHABLE_HINT
        )
    if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
        return ManimagentError(
            f"Docker failed during the render: {_short(exc)}",
            hint="Check `manimagent containers check-status NAME` and `docker info`, then try again",
        )
    return None


def require_image(client: Any, image: str) -> Any:
    import docker

    try:
        return client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ImageMissing(
            f"image {image} is not on the Docker engine at {docker_host()}",
            hint=f"Build it with `manimagent containers build --tag {image}`, or `docker pull {image}`",
        ) from None
    except docker.errors.APIError as exc:
        raise DockerUnavailable(
            f"Docker could not look up image {image}: {_short(exc)}", hint=UNREACHABLE_HINT
        ) from exc


# --- hardened containers -----------------------------------------------------------------------


def hardened_options(limits: Limits) -> dict[str, Any]:
    """The container settings every render runs under."""
    return {
        "user": CONTAINER_USER,
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,
        "nano_cpus": int(limits.cpus * 1_000_000_000),
        "pids_limit": limits.pids,
        "ipc_mode": "private",
        "tmpfs": {"/tmp": TMP_MOUNT},
        "environment": dict(CONTAINER_ENV),
        "working_dir": "/tmp",
    }


def create_work_volume(client: Any, name: str, labels: dict[str, str]) -> Any:
    """A RAM-backed volume for /work: writable under a read-only root and reachable by put_archive."""
    return client.volumes.create(
        name=name,
        driver="local",
        driver_opts={
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"size={WORK_SIZE},mode=1755,nosuid,nodev,noexec",
        },
        labels=labels,
    )


def work_mount(volume_name: str) -> Any:
    from docker.types import Mount

    return Mount(target=agent_host.WORK_ROOT, source=volume_name, type="volume", no_copy=True)


def warm_names(name: str) -> tuple[str, str]:
    """Docker's names of a warm container and its work volume."""
    return f"manimagent-{name}", f"manimagent-{name}-work"


def start_warm_container(
    client: Any,
    *,
    container_name: str,
    volume_name: str,
    label: str,
    image: str,
    limits: Limits,
    ready_timeout: float = 120.0,
) -> Any:
    """Create and start a warm container (replacing a stale one), install the agent, wait until it answers."""
    remove_quietly(client, container_name, volume_name)
    labels = {LABEL_ROLE: "warm", LABEL_NAME: label}
    create_work_volume(client, volume_name, labels)
    container = client.containers.create(
        image,
        agent_host.bootstrap_command(),
        name=container_name,
        labels=labels,
        mounts=[work_mount(volume_name)],
        **hardened_options(limits),
    )
    container.start()
    install_agent(container)
    wait_for_agent(container, ready_timeout)
    return container


def install_agent(container: Any) -> None:
    """Put the agent into a started container; the bootstrap starts it when the ready marker lands."""
    container.put_archive(
        agent_host.WORK_ROOT, agent_host.make_tar([*agent_host.agent_entries(), agent_host.ready_entry()])
    )


def restart_warm_container(container: Any, ready_timeout: float = 120.0) -> None:
    """Restart a stuck warm container: /work is RAM, so the agent goes in again."""
    container.restart(timeout=1)
    install_agent(container)
    wait_for_agent(container, ready_timeout)


def wait_for_agent(container: Any, timeout: float) -> dict[str, Any] | None:
    """The warm agent's state once it answers (manim preloaded), or None if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = agent_state(container)
        if state is not None:
            return state
        container.reload()
        if container.status != "running":
            return None
        time.sleep(0.2)
    return None


def agent_state(container: Any) -> dict[str, Any] | None:
    result = container.exec_run(agent_host.ping_command(), user=CONTAINER_USER, demux=False)
    if result.exit_code != 0:
        return None
    return agent_host.parse_result(result.output.decode("utf-8", "replace"))


def find_container(client: Any, ref: str | None) -> Any | None:
    import docker

    if not ref:
        return None
    try:
        return client.containers.get(ref)
    except docker.errors.NotFound:
        return None


def remove_quietly(client: Any, container_ref: str | None, volume_name: str | None) -> None:
    """Remove a container (running or not) and its volume; absent ones are fine."""
    import docker

    container = find_container(client, container_ref)
    if container is not None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
    if volume_name:
        try:
            client.volumes.get(volume_name).remove(force=True)
        except docker.errors.NotFound:
            pass


def sweep_leftovers(client: Any, older_than: float = LEFTOVER_AGE) -> int:
    """Remove fresh job containers, and their volumes, left behind by a process that died mid-render.

    A leftover stops by itself (see FRESH_MARGIN); one stopped, or created and never started, for
    `older_than` seconds is removed. Returns how many were.
    """
    try:
        stale = client.containers.list(
            all=True, filters={"label": f"{LABEL_ROLE}=job", "status": ["exited", "created", "dead"]}
        )
    except Exception:  # noqa: BLE001 - sweeping is best effort; the render goes on
        return 0
    removed = 0
    for container in stale:
        state = container.attrs.get("State", {})
        since = _docker_time(state.get("FinishedAt")) or _docker_time(container.attrs.get("Created"))
        if since is None or time.time() - since < older_than:
            continue
        volumes = [
            mount.get("Name") for mount in container.attrs.get("Mounts", []) if mount.get("Type") == "volume"
        ]
        remove_quietly(client, container.id, volumes[0] if volumes else None)
        removed += 1
    return removed


def _docker_time(value: str | None) -> float | None:
    """Seconds since the epoch of a Docker timestamp (RFC 3339, nanoseconds); None for unset ones."""
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


# --- moving files --------------------------------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A file object over the byte chunks get_archive yields, for tarfile's stream mode."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _wanted(member: tarfile.TarInfo, suffixes: tuple[str, ...]) -> bool:
    parts = PurePosixPath(member.name).parts
    return (
        member.isfile()
        and member.name.endswith(tuple(f".{suffix}" for suffix in suffixes))
        and "partial_movie_files" not in parts
        and not PurePosixPath(member.name).is_absolute()
        and ".." not in parts
    )


def extract_outputs(chunks: Iterable[bytes], target: Path, suffixes: tuple[str, ...]) -> None:
    """Copy the finished files (regular files with one of `suffixes`, no partial movies) out of a
    tar stream."""
    budget = MAX_FETCH_BYTES
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
        for member in tar:
            if not _wanted(member, suffixes) or member.size > budget:
                continue
            budget -= member.size
            destination = target.joinpath(*PurePosixPath(member.name).parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with destination.open("wb") as handle:
                shutil.copyfileobj(source, handle)


def fetch_outputs(container: Any, token: str, request: RenderRequest, staging: Path) -> list[Path] | None:
    """Each scene's finished file (a video, or a still scene's PNG) moved into `staging`, or None
    if one is missing. A dry run (preflight) writes no media: nothing to fetch."""
    import docker

    from manimagent.render.outcome import stage_outputs

    if request.dry_run:
        return []
    with tempfile.TemporaryDirectory(prefix="manimagent-fetch-") as folder:
        try:
            chunks, _stat = container.get_archive(f"{agent_host.job_dir(token)}/media")
            extract_outputs(chunks, Path(folder), request.format.suffixes)
        except docker.errors.NotFound:
            return None
        found = find_outputs(Path(folder) / "media", request)
        return None if found is None else stage_outputs(found, request, staging)


def _hook(request: RenderRequest) -> bytes | None:
    return hook_source() if request.layout else None


def _narration(request: RenderRequest) -> dict[str, bytes] | None:
    """A narrated job's hook, settings and recorded audio (render/narration.py)."""
    from manimagent.render.narration import job_files

    return job_files(request.narration) if request.narration is not None else None


def fetch_layout(container: Any, token: str) -> list[LayoutFinding]:
    """The layout check's findings from the job folder ([] when there are none or they are unreadable)."""
    import docker

    try:
        chunks, _stat = container.get_archive(f"{agent_host.job_dir(token)}/{FINDINGS_FILE}")
        with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
            for member in tar:
                if member.isfile() and member.size <= MAX_FINDINGS_BYTES:
                    source = tar.extractfile(member)
                    return parse_findings(source.read()) if source is not None else []
    except (docker.errors.DockerException, tarfile.TarError, OSError):
        return []
    return []


# --- running one job ---------------------------------------------------------------------------


class _LogCollector:
    """Gathers an exec's stdout (the agent's result) and stderr (manim's log), drawing progress."""

    def __init__(self, scenes: list[str], sink: ProgressSink | None, code: str | None = None):
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.size = 0
        self.pending = ""
        self.tracker = ProgressTracker(scenes, sink, code=code)
        self.done = threading.Event()

    def consume(self, stream: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        try:
            for out, err in stream:
                if out:
                    self.stdout.append(out.decode("utf-8", "replace"))
                if err:
                    self.feed(err.decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - a broken stream ends like a finished one; the result says more
            pass
        finally:
            self.done.set()

    def feed(self, text: str) -> None:
        if self.size < 4 * MAX_LOG_CHARS:
            self.stderr.append(text)
            self.size += len(text)
        self.pending += text
        *lines, self.pending = self.pending.replace("\r", "\n").split("\n")
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        self.tracker.feed(line)

    @property
    def log(self) -> str:
        text = "".join(self.stderr)
        return text if len(text) <= MAX_LOG_CHARS else "[... log truncated ...]\n" + text[-MAX_LOG_CHARS:]


@dataclass
class JobOutcome:
    """What the agent reported (or what the host saw when it did not report)."""

    log: str
    result: dict[str, Any] | None
    exec_exit: int | None
    host_timeout: bool = False


def run_job(
    client: Any, container: Any, token: str, request: RenderRequest, sink: ProgressSink | None, on_stuck: Any
) -> JobOutcome:
    """Execute the agent for one job; `on_stuck()` runs when it outlives the job's timeout."""
    exec_id = client.api.exec_create(
        container.id,
        agent_host.run_command(),
        environment=agent_host.run_environment(token, manim_arguments(request), request.timeout),
        user=CONTAINER_USER,
        workdir="/tmp",
        stdout=True,
        stderr=True,
    )["Id"]
    collector = _LogCollector(request.scenes, sink, code=request.code)
    stream = client.api.exec_start(exec_id, stream=True, demux=True)
    reader = threading.Thread(target=collector.consume, args=(stream,), daemon=True)
    reader.start()
    host_timeout = not collector.done.wait(request.timeout + EXEC_GRACE)
    if host_timeout:
        on_stuck()
        collector.done.wait(10)
    exec_exit = client.api.exec_inspect(exec_id).get("ExitCode")
    result = agent_host.parse_result("".join(collector.stdout))
    return JobOutcome(log=collector.log, result=result, exec_exit=exec_exit, host_timeout=host_timeout)


def failure_of(
    outcome: JobOutcome, request: RenderRequest, limits: Limits, oom_killed: bool
) -> RenderFailure | None:
    """The failure an outcome stands for, or None when manim exited 0."""
    result = outcome.result or {}
    killed = result.get("killed")
    if outcome.host_timeout or killed == "timeout":
        return timeout_failure(request.timeout)
    if killed == "memory" or (oom_killed and (killed or outcome.result is None)):
        return RenderFailure(
            "MemoryError",
            f"the render needed more than the container's {limits.memory} of memory and was killed "
            "(raise the Container's memory limit or lower the quality)",
            killed="memory",
        )
    if killed == "signal" or outcome.result is None:
        what = f"signal {result['signal']}" if result.get("signal") else f"exit code {outcome.exec_exit}"
        return RenderFailure("Killed", f"the render process was killed ({what})", killed="signal")
    if result.get("exit_code") != 0:
        return parse_failure(outcome.log, SCRIPT_NAME)
    return None


def new_token() -> str:
    """An unguessable job folder name: jobs cannot list /work/jobs, so they cannot find each other's."""
    return secrets.token_hex(16)


# --- the engine --------------------------------------------------------------------------------


class DockerEngine:
    """Renders in the warm container `docker_ref` when it runs, else in a fresh container of `image`."""

    name = "docker"
    has_latex = True

    def __init__(
        self,
        *,
        image: str,
        container_name: str | None = None,
        docker_ref: str | None = None,
        limits: Limits = Limits(),
    ):
        self.image = image
        self.container_name = container_name
        self.docker_ref = docker_ref
        self.limits = limits

    @property
    def mode(self) -> str:
        return "warm" if self.docker_ref else "fresh"

    def render(
        self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None
    ) -> RenderResult:
        client = connect(timeout=request.timeout + EXEC_GRACE + 60)
        started = time.monotonic()
        try:
            container = self._running_warm_container(client)
            if container is not None:
                result = self._render_warm(client, container, request, staging, on_progress)
            else:
                require_image(client, self.image)
                result = self._render_fresh(client, request, staging, on_progress)
        except ManimagentError:
            raise
        except Exception as exc:
            failure = docker_failure(exc)
            if failure is None:
                raise
            raise failure from exc
        result.duration = time.monotonic() - started
        return result

    def _running_warm_container(self, client: Any) -> Any | None:
        container = find_container(client, self.docker_ref)
        return container if container is not None and container.status == "running" else None

    def _render_warm(
        self, client: Any, container: Any, request: RenderRequest, staging: Path, sink: ProgressSink | None
    ) -> RenderResult:
        token = new_token()
        container.put_archive(
            agent_host.JOBS_ROOT,
            agent_host.make_tar(
                agent_host.job_entries(
                    token, request.code, SCRIPT_NAME, hook=_hook(request), extra=_narration(request)
                )
            ),
        )
        try:
            outcome = run_job(
                client, container, token, request, sink, on_stuck=lambda: restart_warm_container(container)
            )
            return self._finish(outcome, container, token, request, staging, oom_killed=False)
        except BaseException:
            _detached_exec(container, agent_host.cancel_command(token))  # Ctrl-C: the job stops too
            raise
        finally:
            _detached_exec(container, agent_host.clean_command(token))

    def _render_fresh(
        self, client: Any, request: RenderRequest, staging: Path, sink: ProgressSink | None
    ) -> RenderResult:
        sweep_leftovers(client)
        token = new_token()
        labels = {LABEL_ROLE: "job", LABEL_NAME: self.container_name or ""}
        volume = create_work_volume(client, f"manimagent-job-{token}", labels)
        container = None
        try:
            container = client.containers.create(
                self.image,
                ["sleep", str(int(request.timeout + FRESH_MARGIN))],
                init=True,
                labels=labels,
                mounts=[work_mount(volume.name)],
                **hardened_options(self.limits),
            )
            container.start()
            entries = [
                *agent_host.agent_entries(),
                *agent_host.job_entries(
                    token,
                    request.code,
                    SCRIPT_NAME,
                    prefix=f"{agent_host.JOBS_DIR}/",
                    hook=_hook(request),
                    extra=_narration(request),
                ),
            ]
            container.put_archive(agent_host.WORK_ROOT, agent_host.make_tar(entries))
            outcome = run_job(client, container, token, request, sink, on_stuck=lambda: container.kill())
            container.reload()
            oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
            return self._finish(outcome, container, token, request, staging, oom_killed=oom_killed)
        finally:
            remove_quietly(client, container.id if container is not None else None, volume.name)

    def _finish(
        self,
        outcome: JobOutcome,
        container: Any,
        token: str,
        request: RenderRequest,
        staging: Path,
        *,
        oom_killed: bool,
    ) -> RenderResult:
        result = self._outcome(outcome, container, token, request, staging, oom_killed=oom_killed)
        result.layout = fetch_layout(container, token) if request.layout else []
        return result

    def _outcome(
        self,
        outcome: JobOutcome,
        container: Any,
        token: str,
        request: RenderRequest,
        staging: Path,
        *,
        oom_killed: bool,
    ) -> RenderResult:
        log = self._where(outcome) + outcome.log
        failure = failure_of(outcome, request, self.limits, oom_killed)
        if failure is not None:
            return RenderResult(ok=False, log=log, failure=failure, sandbox="docker")
        outputs = fetch_outputs(container, token, request, staging)
        if outputs is None:
            return RenderResult(ok=False, log=log, failure=missing_output_failure(), sandbox="docker")
        return RenderResult(ok=True, outputs=outputs, log=log, sandbox="docker")

    def _where(self, outcome: JobOutcome) -> str:
        """The log's first line: which container rendered, and how."""
        how = (
            "by its render agent (manim preloaded)"
            if (outcome.result or {}).get("mode") == "warm"
            else "with plain manim"
        )
        if self.docker_ref:
            name = self.container_name or self.docker_ref[:12]
            return f"manimagent: rendered in warm container {name} {how}\n"
        return f"manimagent: rendered in a fresh container of {self.image} {how}\n"


def _detached_exec(container: Any, command: list[str]) -> None:
    """Start an agent command in the container without waiting for it (cleanup, cancel)."""
    try:
        container.exec_run(command, user=CONTAINER_USER, detach=True)
    except Exception:  # noqa: BLE001 - a container restarted for a timeout has nothing left to clean
        pass
