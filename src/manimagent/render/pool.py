"""A warm local render pool: the render agent (render/assets/agent.py, the docker engine's
in-container program) run inside the local sandbox with manim imported once, forking a fresh child
per job. Used for batches and by `serve`, where many renders pay the ~0.6 s import once.

One agent per owner (a `serve` user; the CLI is one owner): jobs of different users never share
a process. Each job gets its own folder under the agent's jobs root, its own session, environment,
time limit and rlimits (a user namespace of its own, so the process limit counts it alone). The
host hands the agent a listening unix socket whose path only the host can reach, and each job an
output pipe; a job is killed when its connection closes (Ctrl-C, a timeout, its output quota).
An agent that dies is replaced on the next job, and the job it was running is reported failed.

    <tmp>/manimagent-pool-XXXX/     the owner's, 0700, locked while the agent lives
        agent.py                    the agent, bound read-only into the sandbox
        agent.sock                  the socket the agent accepts jobs on (outside the sandbox)
        work/                       the jobs root (`/job` in the sandbox)
            <token>/                one job's folder
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from manimagent.render import child, narration
from manimagent.render.base import (
    SCRIPT_NAME,
    ProgressSink,
    RenderFailure,
    RenderRequest,
    RenderResult,
    manim_arguments,
)
from manimagent.render.jobdir import POOL_PREFIX, JobFolder
from manimagent.render.layout import FINDINGS_FILE, install_hook, read_findings
from manimagent.render.logparse import ProgressTracker
from manimagent.render.outcome import collect, warn_uncontained
from manimagent.render.process import (
    MAX_JOB_ENTRIES,
    QUOTA_POLL_SECONDS,
    ProcessResult,
    RunningProcess,
    folder_usage,
    pump,
    render_environment,
    start_contained,
)
from manimagent.render.sandbox import JOB_INSIDE, NOBODY, Containment, SandboxPolicy

AGENT_INSIDE = "/opt/manimagent-agent.py"
ANSWER_GRACE = 60.0  # seconds past a job's time limit before its agent is given up on
ANSWER_SLICE = 0.25  # seconds of one wait for the answer: an interrupt lands between two
FOREVER = 10 * 365 * 24 * 3600.0
LAUNCH = """
import runpy
sys.argv = ["render-agent", "serve"]
runpy.run_path(os.environ.pop("MANIMAGENT_AGENT_PATH"), run_name="__main__")
"""


class RenderAgent:
    """One warm agent process in the sandbox, for one owner's jobs."""

    def __init__(self, python: str, policy: SandboxPolicy):
        self.python = python
        self.policy = policy
        self.folder = JobFolder(prefix=POOL_PREFIX)
        self.jobs = self.folder.path
        agent = self.folder.root / "agent.py"
        agent.write_text(
            resources.files("manimagent.render.assets").joinpath("agent.py").read_text(encoding="utf-8")
        )
        self.socket_path = str(self.folder.root / "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(self.socket_path)
            listener.listen(64)
            self.process = self._start(agent, listener)
        except BaseException:
            self.folder.remove()
            raise
        finally:
            listener.close()  # the agent holds its own copy
        self.containment: Containment = self.process.containment or Containment("rlimits")
        self.sandboxed = self.containment.kind == "bwrap"
        self.as_nobody = self.sandboxed and os.geteuid() == 0

    def _start(self, agent: Path, listener: socket.socket) -> RunningProcess:
        env = render_environment(self.jobs)
        env.update(MANIMAGENT_AGENT_FD=str(listener.fileno()))
        command = [self.python, "-c", child.PROLOGUE + LAUNCH]
        running = start_contained(
            command,
            job=self.jobs,
            python=self.python,
            policy=self.policy,
            env=env,
            timeout=FOREVER,
            rlimits={"RLIMIT_CORE": 0},
            read_only=((agent, AGENT_INSIDE),),
            pass_fds=(listener.fileno(),),
            env_for=lambda kind: _agent_env(kind, self.jobs, agent),
        )
        return running

    def alive(self) -> bool:
        return self.process.process.poll() is None

    def inside(self, job: Path) -> str:
        """Where a job folder is seen by the agent."""
        return f"{JOB_INSIDE}/{job.name}" if self.sandboxed else str(job)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.folder.remove()

    def log(self) -> str:
        return "".join(self.process.chunks)


def _agent_env(kind: str, jobs: Path, agent: Path) -> dict[str, str]:
    if kind == "bwrap":
        return {"MANIMAGENT_JOBS_ROOT": JOB_INSIDE, "MANIMAGENT_AGENT_PATH": AGENT_INSIDE}
    return {"MANIMAGENT_JOBS_ROOT": str(jobs), "MANIMAGENT_AGENT_PATH": str(agent)}


class RenderPool:
    """The warm agents of this process, one per owner, started on first use and replaced when dead.

    Agents are started from one long-lived thread of their own: the kernel's parent-death signal
    (bubblewrap's --die-with-parent, the child's PR_SET_PDEATHSIG) follows the *thread* that
    started a child, and a batch's or a server's render thread may end while its agent lives on."""

    def __init__(self) -> None:
        self._agents: dict[tuple[str, str, SandboxPolicy], RenderAgent] = {}
        self._lock = threading.Lock()
        self._starter: ThreadPoolExecutor | None = None

    def agent_for(self, owner: str, python: str, policy: SandboxPolicy) -> RenderAgent:
        key = (owner, python, policy)
        with self._lock:
            agent = self._agents.get(key)
            if agent is None or not agent.alive():
                if agent is not None:
                    agent.stop()
                if self._starter is None:
                    self._starter = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="render-agent-starter"
                    )
                agent = self._agents[key] = _wait_for(self._starter.submit(RenderAgent, python, policy))
            return agent

    def forget(self, agent: RenderAgent) -> None:
        """An agent that went away: stop what is left of it; the next job starts a new one."""
        with self._lock:
            for key, known in list(self._agents.items()):
                if known is agent:
                    del self._agents[key]
        agent.stop()

    def shutdown(self) -> None:
        with self._lock:
            agents, self._agents = list(self._agents.values()), {}
        for agent in agents:
            agent.stop()


def _wait_for(future):
    """A future's result, waited for in short slices so that an interrupt lands meanwhile."""
    from concurrent.futures import TimeoutError as FutureTimeout

    while True:
        try:
            return future.result(timeout=ANSWER_SLICE)
        except FutureTimeout:
            continue


POOL = RenderPool()


class PooledRender:
    """One job on a warm agent: the same contract as a direct LocalRender (`wait`, `cancel`)."""

    def __init__(
        self,
        agent: RenderAgent,
        policy: SandboxPolicy,
        request: RenderRequest,
        staging: Path,
        on_progress: ProgressSink | None,
    ):
        self.agent = agent
        self.request = request
        self.staging = staging
        self.limits = policy.limits
        self.containment = agent.containment
        warn_uncontained(self.containment, on_progress)
        self.tracker = ProgressTracker(request.scenes, on_progress, code=request.code)
        self.job = agent.jobs / uuid.uuid4().hex
        self.job.mkdir()
        self.chunks: list[str] = []
        self.over_quota = False
        self.finished = False
        self.started = time.monotonic()
        try:
            (self.job / SCRIPT_NAME).write_text(request.code, encoding="utf-8")
            if request.layout:
                install_hook(self.job)
            if request.narration is not None:
                narration.install(self.job, request.narration)
            if agent.as_nobody:
                os.chown(self.job, NOBODY, NOBODY)
            self.conn, read_fd = self._send()
        except BaseException:
            _remove(self.job)
            raise
        self.reader = threading.Thread(target=self._pump, args=(read_fd,), daemon=True)
        self.reader.start()
        if self.limits.max_output > 0:
            threading.Thread(target=self._measure, daemon=True).start()

    def _send(self) -> tuple[socket.socket, int]:
        document = {
            "dir": self.agent.inside(self.job),
            "args": manim_arguments(self.request),
            "timeout": self.request.timeout,
            "rlimits": self.limits.rlimits(),
        }
        read_fd, write_fd = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(self.agent.socket_path)
            socket.send_fds(conn, [json.dumps(document).encode()], [write_fd])
        except OSError:
            conn.close()
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return conn, read_fd

    def _pump(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb", buffering=0) as stream:
            pump(stream, self.chunks, self.tracker.feed)

    def _measure(self) -> None:
        while not self.finished:
            used, entries = folder_usage(self.job)
            if used > self.limits.max_output or entries > MAX_JOB_ENTRIES:
                self.over_quota = True
                self._hang_up()
                return
            time.sleep(QUOTA_POLL_SECONDS)

    def _hang_up(self) -> None:
        """Closing the connection is how the agent is told to kill the job."""
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait(self) -> RenderResult:
        try:
            answer = self._answer()
            self.reader.join(timeout=5)
            output = "".join(self.chunks)
            if answer is None:
                code = self.agent.process.process.poll()
                why = f"it exited with {code}" if code is not None else "it stopped answering"
                failure = RenderFailure(
                    "WorkerLost",
                    f"the render agent went away during the job ({why}); it is replaced for the next one",
                    killed="signal",
                )
                POOL.forget(self.agent)
                return RenderResult(
                    ok=False,
                    log=output + self.agent.log(),
                    failure=failure,
                    duration=time.monotonic() - self.started,
                    sandbox=self.containment.kind,
                )
            code = answer.get("exit_code")
            returncode = code if isinstance(code, int) else -int(answer.get("signal") or 9)
            done = ProcessResult(
                returncode,
                output,
                answer.get("killed") == "timeout",
                float(answer.get("duration") or 0.0),
                self.over_quota,
            )
            result = collect(self.request, self.job, self.staging, done)
            result.sandbox = self.containment.kind
            result.layout = read_findings(self.job / FINDINGS_FILE) if self.request.layout else []
            return result
        finally:
            self.finished = True
            self.conn.close()
            _remove(self.job)

    def _answer(self) -> dict | None:
        """The agent's answer; waited for in short slices, so that an interrupt (Ctrl-C, or a
        batch stopping this thread) lands at once."""
        deadline = time.monotonic() + self.request.timeout + ANSWER_GRACE
        try:
            data = self._receive(deadline)
        except BaseException:  # Ctrl-C: hang up, so the agent kills the job
            self._hang_up()
            raise
        if data is None:
            return None
        if not data:
            return {"exit_code": None, "signal": 9, "killed": "output"} if self.over_quota else None
        try:
            return json.loads(data.decode())
        except ValueError:
            return None

    def _receive(self, deadline: float) -> bytes | None:
        self.conn.settimeout(ANSWER_SLICE)
        while time.monotonic() < deadline:
            try:
                return self.conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return None

    def cancel(self) -> None:
        """Kill the job (its connection closes); a wait that was interrupted has cleaned up already."""
        if self.finished:
            return
        self._hang_up()
        self.wait()


def _remove(job: Path) -> None:
    """Remove a job folder even where the job made parts of it unreadable."""
    from manimagent.render.assets.agent import remove_tree

    remove_tree(str(job))
