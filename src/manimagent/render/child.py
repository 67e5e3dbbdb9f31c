"""The program a local render's child runs: manim's own command line, then a quick exit.

It is passed to `python -c`, so nothing of manimagent is imported into the render. Arguments come
from argv, or, for a pre-started child (`render/prestart.py`), as one JSON line on stdin once the
job is known: the child imports manim first, then waits for it.

Two things plain `python -m manim render` does that a render under manimagent does not:
- the check against PyPI for a newer manim after every render (`--silent` in `manim_arguments`):
  a network call from inside a render, up to 10 s where the network is filtered;
- the interpreter's teardown of manim's modules (~0.15 s): the child leaves with `os._exit` once
  manim has returned and its output is flushed. Manim writes and closes its files before its
  command returns; the Docker worker's children leave the same way.

The child runs in its own session, so a signal to the terminal's process group does not reach
it; its time limit is kept by the manimagent process. On Linux the child asks the kernel to kill
it when that process ends (SIGKILL, a crash), so a render never outlives the limit's keeper.
A pre-started child whose parent dies before sending the job reads end-of-file and leaves.
"""

from __future__ import annotations

PROGRAM = """
import json, os, sys
if sys.platform.startswith("linux"):  # die with the process that watches the time limit
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
import manim
args = sys.argv[1:]
if not args:
    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)
    args = json.loads(line)["args"]
sys.argv = ["manim", *args]
if os.path.exists("layout_hook.py"):  # the layout check (render/layout_hook.py), when asked for
    exec(compile(open("layout_hook.py", encoding="utf-8").read(), "layout_hook.py", "exec"), {"__name__": "layout_hook"})
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


def command(python: str, args: list[str] | None = None) -> list[str]:
    """The child's command line; without `args` it reads its job from stdin."""
    return [python, "-c", PROGRAM, *(args or [])]
