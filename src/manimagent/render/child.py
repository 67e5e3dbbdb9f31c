"""The program a local render's child runs: manim's own command line, then a quick exit.

It is passed to `python -c`, so nothing of manimagent is imported into the render. Arguments come
from argv, or, for a pre-started child (`render/prestart.py`), as one JSON line on stdin once the
job is known: the child imports manim first, then waits for it.

Two things plain `python -m manim render` does that a render under manimagent does not:
- the check against PyPI for a newer manim after every render (`--silent` in `manim_arguments`):
  a network call from inside a render, up to 10 s where the network is filtered;
- the interpreter's teardown of manim's modules (~0.15 s): the child leaves with `os._exit` once
  manim has returned and its output is flushed. Manim writes and closes its files before its
  command returns; the render agent's children leave the same way.

The child runs in its own session, so a signal to the terminal's process group does not reach
it; its time limit is kept by the manimagent process. On Linux the child asks the kernel to kill
it when that process ends (SIGKILL, a crash), so a render never outlives the limit's keeper.
A pre-started child whose parent dies before sending the job reads end-of-file and leaves.
"""

from __future__ import annotations

PROLOGUE = """
import json, os, sys
def _contain(settings):
    # Before any of the user's code: become the sandbox user (root only), die with the parent,
    # no new privileges, the rlimits soft = hard, then tell the parent the containment holds.
    import resource
    linux = sys.platform.startswith("linux")
    if "uid" in settings and os.getuid() == 0:
        os.setgroups([])
        os.setgid(settings["gid"])
        os.setuid(settings["uid"])
        if linux:  # a user namespace of its own, so that the process limit counts this job alone
            import ctypes
            libc = ctypes.CDLL(None)
            libc.prctl(4, 1)  # PR_SET_DUMPABLE, which the uid change cleared: /proc/self is ours again
            if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
                try:
                    maps = (
                        ("setgroups", "deny"),
                        ("uid_map", "%d %d 1" % ((settings["uid"],) * 2)),
                        ("gid_map", "%d %d 1" % ((settings["gid"],) * 2)),
                    )
                    for name, text in maps:
                        with open("/proc/self/" + name, "w") as handle:
                            handle.write(text)
                except OSError:
                    pass
    if linux:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: die with the process that keeps the time limit
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    for name, value in settings.get("rlimits", {}).items():
        limit = getattr(resource, name, None)
        if limit is not None:
            hard = resource.getrlimit(limit)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
    ready = settings.get("ready_fd")
    if ready is not None:
        os.write(ready, b"1")
        os.close(ready)
_contain(json.loads(os.environ.pop("MANIMAGENT_CONTAINMENT", "{}") or "{}"))
del _contain
"""

PROGRAM = (
    PROLOGUE
    + """
import manim
args = sys.argv[1:]
if not args:
    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)
    args = json.loads(line)["args"]
sys.argv = ["manim", *args]
if os.path.exists("voice_hook.py"):  # narration (render/voice_hook.py), for a narrated script
    exec(compile(open("voice_hook.py", encoding="utf-8").read(), "voice_hook.py", "exec"),
         {"__name__": "voice_hook"})
if os.path.exists("layout_hook.py"):  # the layout check (render/layout_hook.py), when asked for
    exec(compile(open("layout_hook.py", encoding="utf-8").read(), "layout_hook.py", "exec"),
         {"__name__": "layout_hook"})
from manim.__main__ import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
except BaseException:
    import traceback
    traceback.print_exc()
    code = 1
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except Exception:
        pass
os._exit(code)
"""
)


def command(python: str, args: list[str] | None = None) -> list[str]:
    """The child's command line; without `args` it reads its job from stdin."""
    return [python, "-c", PROGRAM, *(args or [])]


def probe_command(python: str) -> list[str]:
    """A child that sets its containment up, reports it, and ends (doctor, serve's start)."""
    return [python, "-c", PROLOGUE]
