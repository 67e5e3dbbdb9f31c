"""The one subprocess door: a child in its own process group, an allow-listed environment,
a wall-clock limit that kills the whole group, and the output captured line by line."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from manimagent.render import child, sandbox
from manimagent.render.sandbox import Containment, SandboxPolicy

MAX_LOG_CHARS = 1_000_000
QUOTA_POLL_SECONDS = 0.2
MAX_JOB_ENTRIES = 100_000  # files and folders a job folder may hold
READY_TIMEOUT = 60.0  # seconds for a contained child to report its containment (a loaded machine)
# Numeric libraries start a thread per core when imported. A render's arrays are small and several
# renders may run at once, so a render gets one thread unless the user's environment says otherwise.
THREAD_LIMITS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Variables a render may see; everything else (API keys, MANIMAGENT_* secrets) stays out.
ENV_ALLOW = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "SYSTEMROOT",
    "TZ",
    "FONTCONFIG_PATH",
    "FONTCONFIG_FILE",
    "TEXMFHOME",
    "TEXINPUTS",
    *THREAD_LIMITS,
)


@dataclass
class ProcessResult:
    returncode: int
    output: str
    timed_out: bool
    duration: float
    over_quota: bool = False


def render_environment(workdir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a render: the allow-list, a private HOME/TMPDIR, plain unbuffered output."""
    source = os.environ if base is None else base
    env = {name: source[name] for name in ENV_ALLOW if name in source}
    env.setdefault("PATH", os.defpath)
    for name, value in THREAD_LIMITS.items():
        env.setdefault(name, value)
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(
        HOME=str(workdir),
        TMPDIR=str(tmp),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
        LANG=env.get("LANG", "C.UTF-8"),
    )
    return env


def spawn(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin_pipe: bool = False,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen:
    """Start a child in its own session (so its whole group can be killed), output merged."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )


@dataclass
class Contained:
    """A child started inside the sandbox; `confirm` tells whether the containment was set up."""

    process: subprocess.Popen
    containment: Containment
    ready_fd: int | None

    def confirm(self, timeout: float = READY_TIMEOUT) -> bool:
        """True once the child reported its containment (before any user code ran); False when it
        ended first, e.g. bubblewrap could not set the sandbox up."""
        fd, self.ready_fd = self.ready_fd, None
        if fd is None:
            return True
        try:
            readable, _, _ = select.select([fd], [], [], timeout)
            return bool(readable) and os.read(fd, 1) == b"1"
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.ready_fd is not None:
            os.close(self.ready_fd)
            self.ready_fd = None


def spawn_contained(
    command: Sequence[str],
    *,
    job: Path,
    python: str,
    policy: SandboxPolicy,
    env: Mapping[str, str],
    stdin_pipe: bool = False,
    rlimits: dict[str, int] | None = None,
    read_only: tuple[tuple[Path, str], ...] = (),
    pass_fds: Sequence[int] = (),
) -> Contained:
    """Start `command` in `job` under the sandbox policy (the one way a render child starts)."""
    read_fd, write_fd = os.pipe()
    try:
        wrapped = sandbox.wrap(
            list(command), job, python, policy, ready_fd=write_fd, rlimits=rlimits, read_only=read_only
        )
        fds = (write_fd, *pass_fds)
        process = spawn(
            wrapped.argv, cwd=job, env={**env, **wrapped.env}, stdin_pipe=stdin_pipe, pass_fds=fds
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return Contained(process, wrapped.containment, read_fd)


def start_contained(
    command: Sequence[str],
    *,
    job: Path,
    python: str,
    policy: SandboxPolicy,
    env: Mapping[str, str],
    timeout: float = 60.0,
    on_line: Callable[[str], None] | None = None,
    quota: int = 0,
    env_for: Callable[[str], Mapping[str, str]] | None = None,
    **spawn_options,
) -> RunningProcess:
    """Start `command` contained, falling back to the limits alone when the sandbox cannot start and
    the policy allows it (`auto`); `.containment` of the result says which it got.

    `env_for(kind)` adds what depends on the containment (paths inside the sandbox or out)."""

    def launch(chosen: SandboxPolicy) -> tuple[Contained, RunningProcess]:
        kind = sandbox.choose(chosen).kind
        full_env = {**env, **(env_for(kind) if env_for else {})}
        contained = spawn_contained(
            command, job=job, python=python, policy=chosen, env=full_env, **spawn_options
        )
        running = RunningProcess.adopt(
            contained.process, timeout=timeout, on_line=on_line, quota=(job, quota)
        )
        running.containment = contained.containment
        return contained, running

    contained, running = launch(policy)
    if contained.confirm() or not contained.containment.sandboxed:
        return running  # contained as chosen, or not sandboxed at all: its output says what went wrong
    fallback = sandbox.broken(policy, running.wait().output)  # no user code ran: it never reported
    contained, running = launch(sandbox.SandboxPolicy(sandbox.SandboxMode.NONE, policy.limits))
    running.containment = fallback
    contained.confirm()
    return running


class RunningProcess:
    """A started child: its output is pumped by a thread; `wait` enforces the time limit."""

    containment: Containment | None = None

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
        on_line: Callable[[str], None] | None,
    ):
        self._watch(spawn(command, cwd=cwd, env=env), timeout, on_line)

    @classmethod
    def adopt(
        cls,
        process: subprocess.Popen,
        *,
        timeout: float,
        on_line: Callable[[str], None] | None,
        quota: tuple[Path, int] | None = None,
    ) -> RunningProcess:
        """Watch a child started earlier (a pre-started render); the time limit counts from now.
        With `quota` = (folder, bytes), the child is killed once the folder holds more."""
        running = cls.__new__(cls)
        running._watch(process, timeout, on_line, quota)
        return running

    def _watch(
        self,
        process: subprocess.Popen,
        timeout: float,
        on_line: Callable[[str], None] | None,
        quota: tuple[Path, int] | None = None,
    ) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.process = process
        self.over_quota = False
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=_pump, args=(self.process, self.chunks, on_line), daemon=True)
        self.reader.start()
        if quota is not None and quota[1] > 0:
            threading.Thread(target=self._measure, args=quota, daemon=True).start()

    def _measure(self, folder: Path, limit: int) -> None:
        """Kill the child once `folder` holds more than `limit` bytes or too many entries."""
        while self.process.poll() is None:
            used, entries = folder_usage(folder)
            if used > limit or entries > MAX_JOB_ENTRIES:
                self.over_quota = True
                self.kill()
                return
            time.sleep(QUOTA_POLL_SECONDS)

    def wait(self) -> ProcessResult:
        """Wait for the child; kill its whole group at the deadline or on Ctrl-C."""
        timed_out = False
        try:
            wait_exit(self.process, max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill()
        except BaseException:
            self.kill()
            raise
        finally:
            self.reader.join(timeout=5)
        output = "".join(self.chunks)
        if len(output) > MAX_LOG_CHARS:
            output = "[... log truncated ...]\n" + output[-MAX_LOG_CHARS:]
        return ProcessResult(
            self.process.returncode, output, timed_out, time.monotonic() - self.started, self.over_quota
        )

    def kill(self) -> None:
        kill_group(self.process)


def _pump(process: subprocess.Popen, chunks: list[str], on_line: Callable[[str], None] | None) -> None:
    assert process.stdout is not None
    pump(process.stdout, chunks, on_line)


def pump(stream, chunks: list[str], on_line: Callable[[str], None] | None) -> None:
    """Read a render's output to its end: kept in `chunks` (bounded), fed to `on_line` line by line."""
    pending = ""
    size = 0
    read = getattr(stream, "read1", stream.read)
    for raw in iter(lambda: read(65536), b""):
        text = raw.decode("utf-8", errors="replace")
        if size < 4 * MAX_LOG_CHARS:
            chunks.append(text)
            size += len(text)
        pending += text
        *lines, pending = pending.replace("\r", "\n").split("\n")
        if on_line:
            for line in lines:
                on_line(line)
    if pending and on_line:
        on_line(pending)


MAX_POLL_SECONDS = 3600.0  # one poll's longest sleep: poll(2) takes milliseconds in a C int


def wait_exit(process: subprocess.Popen, timeout: float) -> int:
    """`process.wait(timeout)`, but woken the moment the child exits.

    `Popen.wait` with a timeout polls with sleeps of up to 50 ms, which a small render pays at its
    end; on Linux a pidfd becomes readable when the child exits, so `poll` sleeps exactly that long.
    Raises `subprocess.TimeoutExpired` like `Popen.wait`."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None or process.returncode is not None:
        return process.wait(timeout=timeout)
    try:
        pidfd = pidfd_open(process.pid)
    except OSError:  # already reaped, or a kernel without pidfds
        return process.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not poller.poll(min(max(0.0, deadline - time.monotonic()), MAX_POLL_SECONDS) * 1000):
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(process.args, timeout)
    finally:
        os.close(pidfd)
    return process.wait()


def kill_group(process: subprocess.Popen) -> None:
    """Kill the child's whole process group and reap it."""
    try:
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def folder_usage(folder: Path) -> tuple[int, int]:
    """Bytes on disk under `folder` (sparse files count what they use) and the number of entries."""
    used = entries = 0
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    used += getattr(info, "st_blocks", 0) * 512 or info.st_size
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return used, entries


def process_gone(pid: int) -> bool:
    """Whether `pid` has exited: no such process, or a zombie (state Z) that nobody reaped yet.

    `os.kill(pid, 0)` succeeds on a zombie, and in a container whose PID 1 does not reap (`sleep
    infinity`) a dead render stays one; /proc says which it is.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def probe(python: str, policy: SandboxPolicy) -> Containment:
    """Start a trivial contained child, as a render would be, and say what contained it."""
    job = Path(tempfile.mkdtemp(prefix="manimagent-probe-"))
    try:
        (job / "tmp").mkdir()
        running = start_contained(
            child.probe_command(python), job=job, python=python, policy=policy, env=render_environment(job)
        )
        running.wait()
        assert running.containment is not None
        return running.containment
    finally:
        shutil.rmtree(job, ignore_errors=True)
