"""The local engine: manim's command line (`render/child.py`) in a contained child process
(`render/sandbox.py`) with its own job folder (`render/jobdir.py`).

Nothing of manim is imported into this process: manim builds global state when imported.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from manimagent.events import Notice
from manimagent.render import child, narration, prestart
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
from manimagent.render.capabilities import latex_available
from manimagent.render.jobdir import JobFolder, sweep_abandoned
from manimagent.render.layout import FINDINGS_FILE, install_hook, read_findings
from manimagent.render.logparse import ProgressTracker, parse_failure
from manimagent.render.process import (
    ProcessResult,
    RunningProcess,
    kill_group,
    render_environment,
    start_contained,
)
from manimagent.render.sandbox import Containment, SandboxPolicy, choose

if TYPE_CHECKING:
    from manimagent.render.pool import PooledRender

# Set on the settings of `serve` and of a batch: local renders go through the warm pool
# (render/pool.py), one agent per owner; a single `render FILE` keeps its pre-started child.
POOL_SETTING = "render_pool"
_warned: set[str] = set()  # one warning a process for each reason the sandbox is missing


class LocalEngine:
    name = "local"
    container_name: str | None = None

    def __init__(
        self, python: str = sys.executable, policy: SandboxPolicy | None = None, pool_owner: str | None = None
    ):
        self.python = python
        self.policy = policy or SandboxPolicy()
        self.pool_owner = pool_owner  # set: renders go to this owner's warm agent (render/pool.py)

    @property
    def has_latex(self) -> bool:
        return latex_available()

    @property
    def containment(self) -> Containment:
        """What contains this engine's renders, as far as known before one starts."""
        return choose(self.policy)

    def render(
        self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None
    ) -> RenderResult:
        return self.start(request, staging, on_progress).wait()

    def start(
        self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None
    ) -> LocalRender | PooledRender:
        """Start the child now; the caller does its bookkeeping while it renders, then `wait`s."""
        if self.pool_owner is not None:
            from manimagent.render.pool import POOL, PooledRender

            sweep_abandoned()
            return PooledRender(
                POOL.agent_for(self.pool_owner, self.python, self.policy),
                self.policy,
                request,
                staging,
                on_progress,
            )
        return LocalRender(self.python, self.policy, request, staging, on_progress)


def warn_uncontained(containment: Containment, on_progress: ProgressSink | None) -> None:
    """One warning line a process for each reason renders are not sandboxed (`auto`'s fallback)."""
    reason = containment.reason
    if containment.sandboxed or reason is None or reason in _warned or on_progress is None:
        return
    _warned.add(reason)
    on_progress(
        Notice(
            message=(
                f"warning: renders are not sandboxed ({reason}); only resource limits contain them."
                f" Fix: {containment.fix}"
            )
        )
    )


class LocalRender:
    """A render under way in a contained child process, in its own job folder."""

    def __init__(
        self,
        python: str,
        policy: SandboxPolicy,
        request: RenderRequest,
        staging: Path,
        on_progress: ProgressSink | None,
    ):
        self.request = request
        self.staging = staging
        tracker = ProgressTracker(request.scenes, on_progress, code=request.code)
        waiting = prestart.take(python, policy)
        sweep_abandoned()
        self.folder = waiting.folder if waiting else JobFolder()
        self.job = self.folder.path
        try:
            (self.job / SCRIPT_NAME).write_text(request.code, encoding="utf-8")
            if request.layout:
                install_hook(self.job)
            if request.narration is not None:
                narration.install(self.job, request.narration)
            if waiting is not None:  # manim is already importing in it: send the job
                waiting.send(manim_arguments(request))
                self.process = RunningProcess.adopt(
                    waiting.process,
                    timeout=request.timeout,
                    on_line=tracker.feed,
                    quota=(self.job, policy.limits.max_output),
                )
                self.process.containment = waiting.containment
            else:
                command = child.command(python, manim_arguments(request))
                env = render_environment(self.job)
                self.process = start_contained(
                    command,
                    job=self.job,
                    python=python,
                    policy=policy,
                    env=env,
                    timeout=request.timeout,
                    on_line=tracker.feed,
                    quota=policy.limits.max_output,
                )
        except BaseException:
            if waiting is not None:
                kill_group(waiting.process)
            self.folder.remove()
            raise
        self.containment = self.process.containment or Containment("rlimits")
        warn_uncontained(self.containment, on_progress)

    def wait(self) -> RenderResult:
        try:
            done = self.process.wait()
            result = collect(self.request, self.job, self.staging, done)
            result.sandbox = self.containment.kind
            result.layout = read_findings(self.job / FINDINGS_FILE) if self.request.layout else []
            return result
        finally:
            self.folder.remove()

    def cancel(self) -> None:
        self.process.kill()
        self.wait()


def collect(request: RenderRequest, job: Path, staging: Path, done: ProcessResult) -> RenderResult:
    log, duration = done.output, done.duration
    if done.over_quota:
        return RenderResult(ok=False, log=log, failure=output_limit_failure(), duration=duration)
    if done.timed_out:
        return RenderResult(ok=False, log=log, failure=timeout_failure(request.timeout), duration=duration)
    if done.returncode != 0:  # the scenes that finished before the failure are kept
        partial = stage_pairs(finished_scenes(job / "media", request), staging)
        return RenderResult(ok=False, log=log, failure=parse_failure(log), duration=duration, partial=partial)
    found = find_outputs(job / "media", request)
    if found is None:
        return RenderResult(ok=False, log=log, failure=missing_output_failure(), duration=duration)
    return RenderResult(ok=True, outputs=stage_outputs(found, request, staging), log=log, duration=duration)


def output_limit_failure() -> RenderFailure:
    return RenderFailure(
        "OutputLimitError",
        "the render wrote more than render.max_output to its job folder and was killed",
        killed="output",
    )


def finished_scenes(media: Path, request: RenderRequest) -> list[tuple[str, Path]]:
    """(scene, file) of the scenes that completed (manim writes a scene's file at its end)."""
    if request.dry_run or not media.is_dir():
        return []
    found = []
    for scene in request.scenes:
        outputs = find_outputs(media, replace(request, scenes=[scene]))
        if outputs:
            found.append((scene, outputs[0]))
    return found


def stage_outputs(found: list[Path], request: RenderRequest, staging: Path) -> list[Path]:
    """Move each scene's finished file into `staging` as `<Scene>.<ext>` (its own extension:
    a still scene's PNG stays a PNG). A dry run (preflight) has none."""
    if request.dry_run:
        return []
    return stage_pairs(list(zip(request.scenes, found, strict=True)), staging)


def stage_pairs(pairs: list[tuple[str, Path]], staging: Path) -> list[Path]:
    staging.mkdir(parents=True, exist_ok=True)
    staged = []
    for scene, path in pairs:
        target = staging / f"{scene}{path.suffix}"
        shutil.move(str(path), target)
        staged.append(target)
    return staged
