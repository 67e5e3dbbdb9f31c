"""Pre-starting the local render of `manimagent render`: manim is imported in its child while this
process is still parsing arguments and loading its own modules, then the child gets the job.

The child is started exactly like a normal render, contained by the sandbox with the render's
allow-listed environment in an empty job folder, and runs `render/child.py`'s program once told
what to render. Nothing is rendered until the job is sent; an unused child is killed (`discard`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from manimagent.errors import ManimagentError
from manimagent.render import child, sandbox
from manimagent.render.jobdir import JobFolder
from manimagent.render.process import Contained, kill_group, render_environment, spawn_contained
from manimagent.render.sandbox import Containment, SandboxPolicy


@dataclass
class Prestarted:
    contained: Contained
    folder: JobFolder
    python: str
    policy: SandboxPolicy

    @property
    def process(self) -> subprocess.Popen:
        return self.contained.process

    @property
    def containment(self) -> Containment:
        return self.contained.containment

    def send(self, args: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"args": args}) + "\n").encode("utf-8"))
        self.process.stdin.close()


_waiting: Prestarted | None = None


def prestart(python: str = sys.executable) -> None:
    """Start a child importing manim in a fresh job folder; `take` hands it to the local engine."""
    global _waiting
    discard()
    try:
        from manimagent.settings import load_settings

        policy = sandbox.policy_from_settings(load_settings())
    except Exception:  # noqa: BLE001 - a bad setting is reported by the command itself, not here
        return
    folder = JobFolder()
    try:
        contained = spawn_contained(
            child.command(python),
            job=folder.path,
            python=python,
            policy=policy,
            env=render_environment(folder.path),
            stdin_pipe=True,
        )
    except (OSError, ManimagentError):  # e.g. render.sandbox = bwrap without bubblewrap: the render says so
        folder.remove()
        return
    _waiting = Prestarted(contained, folder, python, policy)


def take(python: str, policy: SandboxPolicy) -> Prestarted | None:
    """The waiting child if it is alive, contained as asked, and runs `python`; the caller owns it
    from then on. A child whose sandbox could not start is discarded, and the reason remembered."""
    global _waiting
    found, _waiting = _waiting, None
    if found is None:
        return None
    if found.python != python or found.policy != policy or found.process.poll() is not None:
        _discard(found)
        return None
    if not found.contained.confirm():
        output = b""
        if found.process.stdout is not None:
            kill_group(found.process)
            output = found.process.stdout.read()
        _discard(found)
        sandbox.broken(policy, output.decode("utf-8", errors="replace"))
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
    found.contained.close()
    found.folder.remove()
