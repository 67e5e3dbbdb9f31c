"""The local engine: manim's command line (`render/child.py`) in a contained child process
(`render/sandbox.py`) with its own job folder (`render/jobdir.py`).

Nothing of manim is imported into this process: manim builds global state when imported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from manimagent.render import child, narration, prestart
from manimagent.render.base import (
    SCRIPT_NAME,
    ProgressSink,
    RenderRequest,
    RenderResult,
    manim_arguments,
)
from manimagent.render.capabilities import latex_available
from manimagent.render.jobdir import JobFolder, sweep_abandoned
from manimagent.render.layout import FINDINGS_FILE, install_hook, read_findings
from manimagent.render.logparse import ProgressTracker
from manimagent.render.outcome import collect, warn_uncontained
from manimagent.render.process import (
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
