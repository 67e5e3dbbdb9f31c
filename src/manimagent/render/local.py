"""The local engine: manim's command line (`render/child.py`) in a child process with its own working directory.

Nothing of manim is imported into this process: manim builds global state when imported.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from manimagent.render.base import (
    SCRIPT_NAME,
    ProgressSink,
    RenderRequest,
    RenderResult,
    find_outputs,
    manim_arguments,
    missing_output_failure,
    timeout_failure,
)
from manimagent.render.capabilities import latex_available
from manimagent.render.layout import FINDINGS_FILE, install_hook, read_findings
from manimagent.render.logparse import ProgressTracker, parse_failure
from manimagent.render import child, prestart
from manimagent.render.process import RunningProcess, kill_group, render_environment


class LocalEngine:
    name = "local"
    container_name: str | None = None

    def __init__(self, python: str = sys.executable):
        self.python = python

    @property
    def has_latex(self) -> bool:
        return latex_available()

    def render(self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None) -> RenderResult:
        return self.start(request, staging, on_progress).wait()

    def start(self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None) -> "LocalRender":
        """Start the child now; the caller does its bookkeeping while it renders, then `wait`s."""
        return LocalRender(self.python, request, staging, on_progress)


class LocalRender:
    """A render under way in a child process, in its own temporary job folder."""

    def __init__(self, python: str, request: RenderRequest, staging: Path, on_progress: ProgressSink | None):
        self.request = request
        self.staging = staging
        tracker = ProgressTracker(request.scenes, on_progress)
        waiting = prestart.take(python)
        self.job = waiting.job if waiting else Path(tempfile.mkdtemp(prefix="manimagent-job-"))
        try:
            (self.job / SCRIPT_NAME).write_text(request.code, encoding="utf-8")
            if request.layout:
                install_hook(self.job)
            if waiting is not None:  # manim is already importing in it: send the job
                waiting.send(manim_arguments(request))
                self.process = RunningProcess.adopt(waiting.process, timeout=request.timeout, on_line=tracker.feed)
            else:
                self.process = RunningProcess(child.command(python, manim_arguments(request)), cwd=self.job, env=render_environment(self.job), timeout=request.timeout, on_line=tracker.feed)
        except BaseException:
            if waiting is not None:
                kill_group(waiting.process)
            shutil.rmtree(self.job, ignore_errors=True)
            raise

    def wait(self) -> RenderResult:
        try:
            done = self.process.wait()
            result = _collect(self.request, self.job, self.staging, done.output, done.returncode, done.timed_out, done.duration)
            result.layout = read_findings(self.job / FINDINGS_FILE) if self.request.layout else []
            return result
        finally:
            shutil.rmtree(self.job, ignore_errors=True)

    def cancel(self) -> None:
        self.process.kill()
        self.wait()


def _collect(
    request: RenderRequest, job: Path, staging: Path, log: str, returncode: int, timed_out: bool, duration: float
) -> RenderResult:
    if timed_out:
        return RenderResult(ok=False, log=log, failure=timeout_failure(request.timeout), duration=duration)
    if returncode != 0:
        return RenderResult(ok=False, log=log, failure=parse_failure(log), duration=duration)
    found = find_outputs(job / "media", request)
    if found is None:
        return RenderResult(ok=False, log=log, failure=missing_output_failure(), duration=duration)
    return RenderResult(ok=True, outputs=stage_outputs(found, request, staging), log=log, duration=duration)


def stage_outputs(found: list[Path], request: RenderRequest, staging: Path) -> list[Path]:
    """Move each scene's finished file into `staging` as `<Scene>.<ext>`."""
    staging.mkdir(parents=True, exist_ok=True)
    staged = []
    for scene, path in zip(request.scenes, found, strict=True):
        target = staging / f"{scene}.{request.format.value}"
        shutil.move(str(path), target)
        staged.append(target)
    return staged
