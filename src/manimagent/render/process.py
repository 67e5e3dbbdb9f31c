"""The one subprocess door: a child in its own process group, an allow-listed environment,
a wall-clock limit that kills the whole group, and the output captured line by line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_LOG_CHARS = 1_000_000
# Numeric libraries start a thread per core when imported. A render's arrays are small and several
# renders may run at once, so a render gets one thread unless the user's environment says otherwise.
THREAD_LIMITS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Variables a render may see; everything else (API keys, MANIMAGENT_* secrets) stays out.
ENV_ALLOW = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT", "TZ", "FONTCONFIG_PATH", "FONTCONFIG_FILE", "TEXMFHOME", "TEXINPUTS",
    *THREAD_LIMITS,
)


@dataclass
class ProcessResult:
    returncode: int
    output: str
    timed_out: bool
    duration: float


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


def spawn(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdin_pipe: bool = False) -> subprocess.Popen:
    """Start a child in its own session (so its whole group can be killed), output merged."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class RunningProcess:
    """A started child: its output is pumped by a thread; `wait` enforces the time limit."""

    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float, on_line: Callable[[str], None] | None):
        self._watch(spawn(command, cwd=cwd, env=env), timeout, on_line)

    @classmethod
    def adopt(cls, process: subprocess.Popen, *, timeout: float, on_line: Callable[[str], None] | None) -> "RunningProcess":
        """Watch a child started earlier (a pre-started render); the time limit counts from now."""
        running = cls.__new__(cls)
        running._watch(process, timeout, on_line)
        return running

    def _watch(self, process: subprocess.Popen, timeout: float, on_line: Callable[[str], None] | None) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.process = process
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=_pump, args=(self.process, self.chunks, on_line), daemon=True)
        self.reader.start()

    def wait(self) -> ProcessResult:
        """Wait for the child; kill its whole group at the deadline or on Ctrl-C."""
        timed_out = False
        try:
            self.process.wait(timeout=max(0.0, self.deadline - time.monotonic()))
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
        return ProcessResult(self.process.returncode, output, timed_out, time.monotonic() - self.started)

    def kill(self) -> None:
        kill_group(self.process)


def _pump(process: subprocess.Popen, chunks: list[str], on_line: Callable[[str], None] | None) -> None:
    assert process.stdout is not None
    pending = ""
    size = 0
    for raw in iter(lambda: process.stdout.read1(65536), b""):  # type: ignore[union-attr]
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
