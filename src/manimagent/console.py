"""The console script `manimagent` (and `python -m manimagent`): the CLI plus what only a real
process should do.

Kept apart from `manimagent.cli` (which tests call in-process) so that a `render` the render cache
answers whole is done before Typer loads (console_cached.py); so that, for `render FILE`, manim
starts importing in its child before Typer and the CLI's modules load; so that SIGTERM and
SIGHUP are handled like Ctrl-C; and so that the process can end with `os._exit`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn


def main() -> None:
    """Run the CLI, then exit without the interpreter's teardown.

    Every row is committed and every child has ended by then, so the teardown of SQLAlchemy,
    pydantic and the SDKs (about 0.1 s) is skipped once output is flushed.
    """
    # `kill`, `timeout`, a cancelled CI job: like Ctrl-C; a closed terminal: like SIGTERM (which
    # `serve` hands to uvicorn's graceful stop). Ignored signals stay ignored (`nohup`).
    for name, handler in (("SIGTERM", _terminated), ("SIGHUP", _hung_up)):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            signal.signal(number, handler)
    all_hits = False
    if sys.argv[1:2] == ["render"]:
        try:
            from manimagent import console_cached

            shortcut = console_cached.answer(sys.argv[1:])  # every item a render-cache hit: done here
        except KeyboardInterrupt:
            _exit(_interrupted())
        if shortcut.code is not None:
            _exit(shortcut.code)
        all_hits = shortcut.all_hits
    prestarted = not all_hits and _renders_locally(sys.argv[1:])
    if prestarted:
        from manimagent.render import prestart

        prestart.prestart()  # manim imports in its child while the arguments are parsed
    try:
        from manimagent.cli import main as cli_main

        cli_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:  # before the CLI's own handling took over (while it loaded)
        code = _interrupted()
    finally:
        if prestarted:
            from manimagent.render import prestart

            prestart.discard()
        pool = sys.modules.get("manimagent.render.pool")
        if pool is not None:  # a batch's warm render agents, and their folders
            pool.POOL.shutdown()
    _exit(code)


def _interrupted() -> int:
    from manimagent.errors import ExitCode

    sys.stderr.write("Error: interrupted.\n")
    return int(ExitCode.INTERRUPTED)


def _exit(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP end a command the way Ctrl-C does: the render's process group is killed,
    the attempt is stored as interrupted, exit code 130."""
    raise KeyboardInterrupt


def _hung_up(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


# `render`'s options that take a value (`cli/options.py`), so that their values are not taken for files.
_VALUED = frozenset(
    {
        "--scene",
        "-s",
        "--engine",
        "-e",
        "--container",
        "-c",
        "--quality",
        "-q",
        "--format",
        "-f",
        "--still-seconds",
        "--max-attempts",
        "--output",
        "-o",
        "--server",
        "--jobs",
        "-j",
    }
)


def _renders_locally(args: list[str]) -> bool:
    """`render FILE` on the local engine, as far as the raw arguments tell (a wrong guess costs
    only a discarded child)."""
    if args[:1] != ["render"] or os.environ.get("MANIMAGENT_SERVER"):
        return False
    if any(
        arg in {"-h", "--help", "--server", "docker", "--engine=docker", "-edocker", "--jobs", "-j"}
        or arg.startswith("--jobs=")
        for arg in args
    ):
        return False
    files: list[str] = []
    rest = iter(args[1:])
    for arg in rest:
        if arg in _VALUED:
            next(rest, None)
        elif arg == "--":
            files.extend(rest)
        elif not arg.startswith("-"):
            files.append(arg)
    return (
        len(files) == 1 and not os.path.isdir(files[0]) and not any(char in files[0] for char in "*?[")
    )  # one file: no batch
