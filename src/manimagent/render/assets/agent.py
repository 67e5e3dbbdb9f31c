"""The render agent: the program that renders inside a manimagent container, and inside the local
sandbox for the warm pool (render/pool.py). Standalone: stdlib only, Python 3.9+.

Copied into the container by the host with put_archive (render/agent_host.py). Subcommands:

  serve   the warm container's PID 1: imports manim once, listens on an abstract unix socket,
          and forks a fresh child per job (the import is paid once, isolation is kept).
  run     what the host executes per render (`docker exec`). Reads the job from the env var
          MANIMAGENT_JOB, hands it to the warm agent with a pipe for the output, relays that output to
          stderr and prints one JSON result line on stdout. Without a warm agent it renders itself.
  clean   removes a job directory, whatever modes the job left in it.
  cancel  kills the job running in a directory (the host was interrupted).
  ping    prints the warm agent's state as JSON; exit 1 when none answers.

Every job child: its own session (the timeout kills the group), non-dumpable (other jobs of the
same uid cannot read its /proc entries or ptrace it), oom_score_adj 1000 (a memory bomb dies
before the agent), umask 077, HOME and TMPDIR inside its own directory, an empty environment.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import stat
import sys
import time
import traceback
from typing import cast

SOCKET_ADDRESS = "\0manimagent-render-agent"
JOB_ENV = "MANIMAGENT_JOB"
# The local engine's pool runs this agent in its sandbox: the jobs root is the folder it binds
# there, and the host hands over a listening socket (a path only the host can reach).
JOBS_ROOT = os.environ.get("MANIMAGENT_JOBS_ROOT", "/work/jobs")
LISTEN_FD_ENV = "MANIMAGENT_AGENT_FD"
MAX_TIMEOUT = 3600.0
DRAIN_SECONDS = 1.0
STRAY_SCAN_SECONDS = 0.5
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
LEFTOVER_SECONDS = 600.0  # a finished job's folder is removed by then even if the host never cleaned it
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
DEFAULT_PATH = "/opt/manim/bin:/usr/local/bin:/usr/bin:/bin"
LAYOUT_HOOK = "layout_hook.py"  # in the job folder when the host asked for the layout check
VOICE_HOOK = "voice_hook.py"  # in the job folder when the script is narrated


# --- process hygiene -------------------------------------------------------------------------


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def make_undumpable() -> None:
    """Deny other processes of our uid access to /proc/<pid>/{cwd,environ,fd,mem} and ptrace."""
    _prctl(PR_SET_DUMPABLE, 0)


def become_subreaper() -> None:
    """Orphans of our descendants become our children, so we can kill what a job left behind."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def raise_oom_score() -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass


def oom_kill_count() -> int:
    """OOM kills in this container's memory cgroup so far (cgroup v2 or v1), 0 when unknown."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def children_of(parent: int) -> list[int]:
    """Pids whose parent is `parent`, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def kill_quietly(pid: int, *, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap_all() -> list[tuple[int, int]]:
    """Every exited child (jobs and adopted orphans) as (pid, status)."""
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


# --- one job ---------------------------------------------------------------------------------


def validate_job(job: dict) -> dict:
    """The job as the host sent it, with a directory under JOBS_ROOT and a bounded timeout."""
    job_dir = os.path.realpath(str(job["dir"]))
    if os.path.dirname(job_dir) != JOBS_ROOT:
        raise ValueError(f"job directory must be directly under {JOBS_ROOT}")
    args = [str(arg) for arg in job["args"]]
    timeout = min(float(job.get("timeout", 300.0)), MAX_TIMEOUT)
    rlimits = {str(name): int(value) for name, value in dict(job.get("rlimits") or {}).items()}
    return {"dir": job_dir, "args": args, "timeout": timeout, "rlimits": rlimits}


def contain_job(rlimits: dict) -> None:
    """The job's own limits (soft = hard), counted for it alone: a user namespace of its own first,
    so the process limit does not add up the jobs of this agent."""
    if not rlimits:
        return
    import ctypes
    import resource

    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_DUMPABLE, 1)  # the agent is not; /proc/self must be ours to write the maps
    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER; a fresh fork is single-threaded
        try:
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"{uid} {uid} 1"),
                ("gid_map", f"{gid} {gid} 1"),
            ):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        except OSError:
            pass
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    for name, value in rlimits.items():
        limit = getattr(resource, name, None)
        if limit is not None:
            hard = resource.getrlimit(limit)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))


def enter_job(job: dict, output_fd: int) -> None:
    """Turn the freshly forked child into the job's process: session, fds, limits, env, cwd."""
    os.setsid()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.closerange(3, 65536)
    contain_job(job.get("rlimits") or {})
    make_undumpable()
    raise_oom_score()
    os.umask(0o077)
    job_dir = job["dir"]
    tmp = os.path.join(job_dir, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    path = os.environ.get("PATH") or DEFAULT_PATH  # the image's PATH (TeX may live outside /usr/bin)
    os.environ.clear()
    os.environ.update(
        {
            "PATH": path,
            "HOME": job_dir,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "COLUMNS": "200",
        }
    )
    import tempfile

    tempfile.tempdir = None
    os.chdir(job_dir)


def run_manim(args: list[str]) -> int:
    """Manim's own command line, in this process; returns its exit code."""
    sys.argv = ["manim", *args]
    try:
        if os.path.exists(VOICE_HOOK):  # narration (render/voice_hook.py) the host sent with the job
            with open(VOICE_HOOK, encoding="utf-8") as handle:
                exec(compile(handle.read(), VOICE_HOOK, "exec"), {"__name__": "voice_hook"})
        if os.path.exists(LAYOUT_HOOK):  # the layout check the host sent with the job
            with open(LAYOUT_HOOK, encoding="utf-8") as handle:
                exec(compile(handle.read(), LAYOUT_HOOK, "exec"), {"__name__": "layout_hook"})
        from manim.__main__ import main

        main(args=args, prog_name="manim", standalone_mode=False)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the job's error is the render log
        exit_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show"):
            exc.show()
        elif type(exc).__name__ == "Abort":
            print("Aborted.", file=sys.stderr)
        else:
            traceback.print_exc()
        return exit_code if isinstance(exit_code, int) else 1


def fork_job(job: dict, output_fd: int) -> int:
    """Fork the job's child; it never returns into the caller."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        enter_job(job, output_fd)
        code = run_manim(job["args"])
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def job_result(status: int, *, timed_out: bool, oom_before: int, started: float) -> dict:
    """What the host needs to know about a finished child."""
    signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    killed = None
    if timed_out:
        killed = "timeout"
    elif signal_number == signal.SIGKILL and oom_kill_count() > oom_before:
        killed = "memory"
    elif signal_number is not None:
        killed = "signal"
    return {
        "exit_code": exit_code,
        "signal": signal_number,
        "killed": killed,
        "duration": round(time.monotonic() - started, 3),
    }


# --- the warm agent (serve) ------------------------------------------------------------------


class Job:
    def __init__(self, pid: int, conn: socket.socket, timeout: float, job_dir: str):
        self.pid = pid
        self.conn = conn
        self.dir = job_dir
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.oom_before = oom_kill_count()
        self.timed_out = False


class WarmAgent:
    """PID 1 of a warm container: accepts jobs, forks children, enforces deadlines, kills strays."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.by_conn: dict[int, Job] = {}
        self.preloaded = False
        self.preload_error = ""
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.last_scan = 0.0
        self.leftovers: list[tuple[float, str]] = []

    def preload(self) -> None:
        started = time.monotonic()
        try:
            import manim  # noqa: F401
            import manim.__main__  # noqa: F401
            from manim import Scene  # noqa: F401

            self.preloaded = True
            print(
                f"render agent: manim preloaded in {time.monotonic() - started:.2f}s",
                file=sys.stderr,
                flush=True,
            )
        except BaseException as exc:  # noqa: BLE001 - report it and serve as a plain reaper
            self.preload_error = f"{type(exc).__name__}: {exc}"
            print(f"render agent: cannot import manim: {self.preload_error}", file=sys.stderr, flush=True)

    def listen(self) -> socket.socket:
        handed = os.environ.pop(LISTEN_FD_ENV, "")
        if handed:
            server = socket.socket(fileno=int(handed))
        else:
            server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            server.bind(SOCKET_ADDRESS)
        server.listen(64)
        server.setblocking(False)
        self.selector.register(server, selectors.EVENT_READ, "server")
        return server

    def serve(self) -> None:
        make_undumpable()
        become_subreaper()
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # taken by check_stop_signals
        self.preload()
        if self.preloaded:
            self.listen()
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.1):
                conn = cast(socket.socket, key.fileobj)  # only sockets are registered
                if key.data == "server":
                    self.accept(conn)
                else:
                    self.client_readable(conn)
            self.reap()
            self.enforce_deadlines()
            self.kill_strays()
            self.sweep_leftovers()
            self.check_stop_signals()
        for job in list(self.jobs.values()):
            kill_quietly(job.pid, group=True)

    def check_stop_signals(self) -> None:
        """Stop on SIGTERM/SIGINT from Docker (sent from outside: uid 0); a job's own kill is ignored."""
        while True:
            info = signal.sigtimedwait(STOP_SIGNALS, 0)
            if info is None:
                return
            if info.si_uid == 0 or info.si_pid == 0:
                self.stopping = True

    def accept(self, server: socket.socket) -> None:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return
        conn.settimeout(1.0)
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
            request = json.loads(data.decode())
        except (OSError, ValueError) as exc:
            self.answer(conn, {"error": f"bad request: {exc}"})
            return
        if request.get("ping") or request.get("cancel"):
            for fd in fds:
                os.close(fd)
            self.answer(conn, self.cancel(str(request["cancel"])) if request.get("cancel") else self.state())
            return
        self.start_job(conn, request, fds)

    def cancel(self, job_dir: str) -> dict:
        """Kill the job running in `job_dir` (the host was interrupted)."""
        job_dir = os.path.realpath(job_dir)
        doomed = [job for job in self.jobs.values() if job.dir == job_dir]
        for job in doomed:
            kill_quietly(job.pid, group=True)
            kill_quietly(job.pid)
        return {"cancelled": len(doomed)}

    def state(self) -> dict:
        return {
            "agent": True,
            "preloaded": self.preloaded,
            "jobs": len(self.jobs),
            "pid": os.getpid(),
            "error": self.preload_error or None,
        }

    def start_job(self, conn: socket.socket, request: dict, fds: list[int]) -> None:
        if len(fds) != 1:
            self.answer(conn, {"error": "a job needs exactly one output fd"})
            return
        try:
            job = validate_job(request)
        except (KeyError, TypeError, ValueError) as exc:
            os.close(fds[0])
            self.answer(conn, {"error": f"bad job: {exc}"})
            return
        pid = fork_job(job, fds[0])
        os.close(fds[0])
        entry = Job(pid, conn, job["timeout"], job["dir"])
        self.jobs[pid] = entry
        self.by_conn[conn.fileno()] = entry
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, "client")

    def client_readable(self, conn: socket.socket) -> None:
        """A client speaks only by going away: then its job is killed."""
        try:
            data = conn.recv(16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            job = self.by_conn.get(conn.fileno())
            if job:
                kill_quietly(job.pid, group=True)

    def reap(self) -> None:
        for pid, status in reap_all():
            job = self.jobs.pop(pid, None)
            if job is None:
                continue  # an adopted orphan
            kill_quietly(pid, group=True)  # what the job left running in its session
            result = job_result(
                status, timed_out=job.timed_out, oom_before=job.oom_before, started=job.started
            )
            self.finish(job, result)
            self.last_scan = 0.0

    def finish(self, job: Job, result: dict) -> None:
        self.leftovers.append((time.monotonic() + LEFTOVER_SECONDS, job.dir))
        self.by_conn.pop(job.conn.fileno(), None)
        try:
            self.selector.unregister(job.conn)
        except (KeyError, ValueError):
            pass
        self.answer(job.conn, result)

    def answer(self, conn: socket.socket, document: dict) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(2.0)
            conn.send(json.dumps(document).encode())
        except OSError:
            pass
        finally:
            conn.close()

    def enforce_deadlines(self) -> None:
        now = time.monotonic()
        for job in self.jobs.values():
            if now > job.deadline and not job.timed_out:
                job.timed_out = True
                kill_quietly(job.pid, group=True)
                kill_quietly(job.pid)

    def sweep_leftovers(self) -> None:
        """Remove folders of jobs finished long ago that the host did not clean (it died, say)."""
        now = time.monotonic()
        while self.leftovers and self.leftovers[0][0] < now:
            remove_job_dir(self.leftovers.pop(0)[1])

    def kill_strays(self) -> None:
        """Kill adopted orphans: processes a job detached from its session to outlive it."""
        now = time.monotonic()
        if now - self.last_scan < STRAY_SCAN_SECONDS:
            return
        self.last_scan = now
        for pid in children_of(os.getpid()):
            if pid not in self.jobs:
                kill_quietly(pid)


# --- direct rendering (no warm agent) --------------------------------------------------------


def supervise(job: dict, read_fd: int, write_fd: int) -> dict:
    """Render `job` in a child of this process, relaying its output; the fallback of `run`."""
    become_subreaper()
    oom_before = oom_kill_count()
    started = time.monotonic()
    pid = fork_job(job, write_fd)
    os.close(write_fd)
    deadline = started + job["timeout"]
    status, timed_out, eof = None, False, False
    while status is None:
        if eof:
            time.sleep(0.05)
        else:
            eof = relay(read_fd, until=min(deadline, time.monotonic() + 0.2))
        finished, child_status = os.waitpid(pid, os.WNOHANG)
        if finished:
            status = child_status
        elif time.monotonic() > deadline:
            timed_out = True
            kill_quietly(pid, group=True)
            kill_quietly(pid)
    kill_quietly(pid, group=True)
    for orphan in children_of(os.getpid()):
        kill_quietly(orphan)
    reap_all()
    relay(read_fd, until=time.monotonic() + DRAIN_SECONDS)
    return job_result(status, timed_out=timed_out, oom_before=oom_before, started=started)


def relay(read_fd: int, *, until: float, stop_socket: socket.socket | None = None) -> bool:
    """Copy the job's output to stderr until EOF (True), `until`, or a readable stop socket."""
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    if stop_socket is not None:
        selector.register(stop_socket, selectors.EVENT_READ)
    try:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(timeout=remaining):
                if key.fileobj is stop_socket:
                    return False
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    return True
                os.write(2, chunk)
    finally:
        selector.close()


def ask_warm_agent(job: dict, read_fd: int, write_fd: int) -> dict | None:
    """Hand the job to the warm agent; None when there is none to ask."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(SOCKET_ADDRESS)
        socket.send_fds(conn, [json.dumps(job).encode()], [write_fd])
    except OSError:
        conn.close()
        return None
    os.close(write_fd)
    far_future = time.monotonic() + job["timeout"] + 60
    eof = relay(read_fd, until=far_future, stop_socket=conn)
    conn.settimeout(max(1.0, far_future - time.monotonic()) if eof else 5.0)
    try:
        answer = conn.recv(65536)
    except OSError:
        answer = b""
    relay(read_fd, until=time.monotonic() + DRAIN_SECONDS)
    if not answer:
        return {"exit_code": None, "signal": None, "killed": "signal", "error": "the warm agent went away"}
    result = json.loads(answer.decode())
    result["mode"] = "warm"
    return result


def run_command() -> int:
    make_undumpable()
    job = validate_job(json.loads(os.environ.pop(JOB_ENV)))
    read_fd, write_fd = os.pipe()
    result = ask_warm_agent(job, read_fd, write_fd)
    if result is None:
        result = supervise(job, read_fd, write_fd)
        result["mode"] = "direct"
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --- small commands --------------------------------------------------------------------------


def remove_job_dir(job_dir: str) -> int:
    """Remove a job directory even if the job made parts of it unreadable."""
    job_dir = os.path.realpath(job_dir)
    if os.path.dirname(job_dir) != JOBS_ROOT or not os.path.isdir(job_dir):
        return 0
    return 0 if remove_tree(job_dir) else 1


def remove_tree(folder: str) -> bool:
    """Remove `folder` whatever modes a job left in it (the local pool uses it too); True if gone."""
    try:
        os.chmod(folder, stat.S_IRWXU)
    except OSError:
        pass
    for root, dirs, _files in os.walk(folder, topdown=True, onerror=lambda _e: None):
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, stat.S_IRWXU)
                except OSError:
                    pass
    shutil.rmtree(folder, ignore_errors=True)
    return not os.path.exists(folder)


def ask(request: dict) -> int:
    """Send the warm agent one small request and print its answer (ping, cancel)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.settimeout(5.0)
    try:
        conn.connect(SOCKET_ADDRESS)
        conn.send(json.dumps(request).encode())
        answer = json.loads(conn.recv(65536).decode())
    except (OSError, ValueError):
        print(json.dumps({"agent": False}))
        return 1
    print(json.dumps(answer))
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "serve":
        WarmAgent().serve()
        return 0
    if command == "run":
        return run_command()
    if command == "clean" and len(argv) == 2:
        return remove_job_dir(argv[1])
    if command == "ping":
        return ask({"ping": True})
    if command == "cancel" and len(argv) == 2:
        return ask({"cancel": argv[1]})
    print("usage: agent.py serve | run | clean JOB_DIR | cancel JOB_DIR | ping", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
