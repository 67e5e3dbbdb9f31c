"""The host side of the render agent in a container (`render/assets/agent.py`).

Where the agent lives in a container, the archives that carry it and each job in, the commands
the host executes (`run`, `clean`, `cancel`, `ping`) and the PID-1 bootstrap of a warm container, which
waits for the agent to arrive by put_archive and then serves jobs with manim preloaded.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import dataclass
from importlib import resources

from manimagent.render.layout import HOOK_FILE

WORK_ROOT = "/work"
JOBS_DIR = "jobs"
AGENT_DIR = "agent"
JOBS_ROOT = f"{WORK_ROOT}/{JOBS_DIR}"
AGENT_PATH = f"{WORK_ROOT}/{AGENT_DIR}/agent.py"
READY_MARKER = f"{WORK_ROOT}/{AGENT_DIR}/ready"
JOB_ENV = "MANIMAGENT_JOB"
JOB_UID = 1000
PYTHON = "python"

# PID 1 of a warm container: wait for the agent, then run it as the warm agent (manim preloaded).
BOOTSTRAP = (
    "import os, runpy, sys, time\n"
    f"while not os.path.exists({READY_MARKER!r}):\n"
    "    time.sleep(0.02)\n"
    f"sys.argv = [{AGENT_PATH!r}, 'serve']\n"
    f"runpy.run_path({AGENT_PATH!r}, run_name='__main__')\n"
)


@dataclass(frozen=True)
class ArchiveEntry:
    name: str
    mode: int
    uid: int = 0
    data: bytes | None = None  # None: a directory


def agent_source() -> bytes:
    return resources.files("manimagent.render").joinpath("assets/agent.py").read_bytes()


def make_tar(entries: list[ArchiveEntry]) -> bytes:
    """An uncompressed tar for put_archive; entries are written in order."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.uid, now
            if entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


def agent_entries() -> list[ArchiveEntry]:
    """The agent (root-owned, read-only for jobs) and the jobs folder nobody can list (1733)."""
    return [
        ArchiveEntry(AGENT_DIR, 0o755),
        ArchiveEntry(f"{AGENT_DIR}/agent.py", 0o644, data=agent_source()),
        ArchiveEntry(JOBS_DIR, 0o1733),
    ]


def ready_entry() -> ArchiveEntry:
    return ArchiveEntry(f"{AGENT_DIR}/ready", 0o644, data=b"")


def job_entries(
    token: str,
    code: str,
    script_name: str,
    *,
    prefix: str = "",
    hook: bytes | None = None,
    extra: dict[str, bytes] | None = None,
) -> list[ArchiveEntry]:
    """A job folder only its uid can enter (0700), holding the script (0600), the layout hook when
    given, and `extra` files (path in the job -> bytes: a narration's, render/narration.py)."""
    folder = f"{prefix}{token}"
    entries = [
        ArchiveEntry(folder, 0o700, uid=JOB_UID),
        ArchiveEntry(f"{folder}/{script_name}", 0o600, uid=JOB_UID, data=code.encode("utf-8")),
    ]
    if hook is not None:
        entries.append(ArchiveEntry(f"{folder}/{HOOK_FILE}", 0o600, uid=JOB_UID, data=hook))
    for name, data in (extra or {}).items():
        if "/" in name and not any(entry.name == f"{folder}/{name.rsplit('/', 1)[0]}" for entry in entries):
            entries.append(ArchiveEntry(f"{folder}/{name.rsplit('/', 1)[0]}", 0o700, uid=JOB_UID))
        entries.append(ArchiveEntry(f"{folder}/{name}", 0o600, uid=JOB_UID, data=data))
    return entries


def job_dir(token: str) -> str:
    return f"{JOBS_ROOT}/{token}"


def run_command() -> list[str]:
    return [PYTHON, AGENT_PATH, "run"]


def run_environment(token: str, args: list[str], timeout: float) -> dict[str, str]:
    """The job travels in the environment (not argv: /proc/<pid>/cmdline is world-readable)."""
    return {JOB_ENV: json.dumps({"dir": job_dir(token), "args": args, "timeout": timeout})}


def clean_command(token: str) -> list[str]:
    return [PYTHON, AGENT_PATH, "clean", job_dir(token)]


def cancel_command(token: str) -> list[str]:
    return [PYTHON, AGENT_PATH, "cancel", job_dir(token)]


def ping_command() -> list[str]:
    return [PYTHON, AGENT_PATH, "ping"]


def bootstrap_command() -> list[str]:
    return [PYTHON, "-c", BOOTSTRAP]


def parse_result(stdout: str) -> dict | None:
    """The agent's JSON result: the last JSON line it printed on stdout."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None
