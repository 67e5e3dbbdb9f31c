"""Pre-starting the local render of `manimagent render`: manim is imported in its child while this
process is still parsing arguments and loading its own modules, then the child gets the job.

The child is started with the render's allow-listed environment in an empty job folder, exactly
like a normal render, and runs `render/child.py`'s program once told what to render. Nothing is
rendered until the job is sent; an unused child is killed (`discard`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from manimagent.render import child
from manimagent.render.process import kill_group, render_environment, spawn


@dataclass
class Prestarted:
    process: subprocess.Popen
    job: Path
    python: str

    def send(self, args: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"args": args}) + "\n").encode("utf-8"))
        self.process.stdin.close()


_waiting: Prestarted | None = None


def prestart(python: str = sys.executable) -> None:
    """Start a child importing manim in a fresh job folder; `take` hands it to the local engine."""
    global _waiting
    discard()
    job = Path(tempfile.mkdtemp(prefix="manimagent-job-"))
    try:
        process = spawn(child.command(python), cwd=job, env=render_environment(job), stdin_pipe=True)
    except OSError:
        shutil.rmtree(job, ignore_errors=True)
        return
    _waiting = Prestarted(process, job, python)


def take(python: str) -> Prestarted | None:
    """The waiting child if it is alive and runs `python`; the caller owns it from then on."""
    global _waiting
    found, _waiting = _waiting, None
    if found is None:
        return None
    if found.python != python or found.process.poll() is not None:
        _discard(found)
        return None
    return found


def discard() -> None:
    """Kill an unused pre-started child and remove its folder."""
    global _waiting
    found, _waiting = _waiting, None
    if found is not None:
        _discard(found)


def _discard(found: Prestarted) -> None:
    kill_group(found.process)
    shutil.rmtree(found.job, ignore_errors=True)
