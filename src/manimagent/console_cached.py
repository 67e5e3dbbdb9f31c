"""`manimagent render FILE|DIR|GLOB...` answered from the render cache before the CLI loads.

When every scene of every item is in the render cache, nothing renders: the console script then
stores the items (services/batch.render_cached, services/cache_hits.py) and prints what the CLI
would print, without importing Typer, Rich or SQLModel (most of such a run's time otherwise).

It answers only what it understands: `render` with files, folders or patterns and the options
below, on the local SQLite store, with stderr not a terminal (there the CLI draws with Rich, and
still stores the hits without the ORM). Anything else, an item that is not a whole hit, or any
error returns None, with nothing written, and the CLI runs as always (its errors and exit codes).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

# `render`'s options (cli/commands_render.py) this path takes: option -> the choice it sets
_VALUED = {
    "--scene": "scene",
    "-s": "scene",
    "--engine": "engine",
    "-e": "engine",
    "--container": "container",
    "-c": "container",
    "--quality": "quality",
    "-q": "quality",
    "--format": "format",
    "-f": "format",
    "--still-seconds": "still_seconds",
    "--max-attempts": "max_attempts",
    "--jobs": "jobs",
    "-j": "jobs",
}
_FLAGS = {"--json": "json", "--jsonl": "jsonl", "--no-cache": "no_cache", "--partial": "partial"}
_LIMITS = {"max_attempts": (1, 10), "jobs": (1, 64), "still_seconds": (0.01, 60.0)}  # as Typer checks them
# Rich treats stderr as a terminal when one of these is set (it then draws live, so the CLI draws)
_TERMINAL_ENVS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


@dataclass
class Command:
    """A `render` command line this path understands."""

    files: list[str] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Answer:
    """`code`: the exit code when the command was answered here (None: run the CLI); `all_hits`:
    every item is a render-cache hit, so no render child needs starting."""

    code: int | None = None
    all_hits: bool = False


def answer(args: list[str]) -> Answer:
    """Answer `manimagent ARGS` here when it is a `render` of render-cache hits (see the docstring)."""
    command = parse(args)
    if command is None or os.environ.get("MANIMAGENT_SERVER"):
        return Answer()
    try:
        outcome = _answer(command)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the CLI does it again and says so
        if os.environ.get("MANIMAGENT_DEBUG"):
            _err(f"manimagent: no cache shortcut ({type(exc).__name__}: {exc}); the CLI renders")
        return Answer()
    if isinstance(outcome, Answer):
        return outcome
    return Answer(code=_shown(outcome), all_hits=True)


@dataclass(frozen=True)
class _Stored:
    """Every item is stored: what is left is printing it (never a reason to run the CLI again)."""

    show: Callable[[], None]


def _shown(stored: _Stored) -> int:
    """Print what was stored; the exit code (the rows stay, whatever becomes of the output)."""
    from manimagent.errors import ExitCode

    try:
        stored.show()
    except BrokenPipeError:  # `| head -1`: the reader has gone, as the CLI takes it
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, as the CLI's last line of defence says it
        _err(f"Error: unexpected {type(exc).__name__}: {exc} (set MANIMAGENT_DEBUG=1 for the traceback).")
        return int(ExitCode.FAILED)
    return 0


def parse(args: list[str]) -> Command | None:
    """The command line of `render`, or None for anything else (help, --server, --output, ...)."""
    if args[:1] != ["render"]:
        return None
    command = Command()
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--":
            command.files.extend(rest)
        elif not arg.startswith("-") or arg == "-":
            command.files.append(arg)
        elif not _take_option(command, arg, rest):
            return None
    return command if command.files else None


def _take_option(command: Command, arg: str, rest: Iterator[str]) -> bool:
    """Take `arg` (and its value); False for an option this path does not know."""
    name, given, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    if name in _FLAGS and not given:
        command.flags.add(_FLAGS[name])
        return True
    if name not in _VALUED:
        return False
    value = attached if given else next(rest, None)
    key = _VALUED[name]
    if value is None or (key in _LIMITS and _number(key, value) is None):
        return False
    if key == "scene":
        command.scenes.append(value)
    else:
        command.values[key] = _number(key, value) if key in _LIMITS else value
    return True


def _number(key: str, text: str) -> int | float | None:
    low, high = _LIMITS[key]
    try:
        value = float(text) if isinstance(low, float) else int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _choices(command: Command) -> dict[str, Any]:
    """The render options as cli/options.render_choices makes them (an unknown quality or format:
    None, the CLI's own error)."""
    from manimagent.render.base import OutputFormat, Quality

    values = command.values
    for key, kind in (("quality", Quality), ("format", OutputFormat)):
        if key in values and values[key] not in {choice.value for choice in kind}:
            raise ValueError(f"--{key} {values[key]}")
    choices: dict[str, Any] = {
        key: values.get(key) for key in ("engine", "container", "quality", "format", "max_attempts")
    }
    if "no_cache" in command.flags:
        choices["cache"] = False
    if "partial" in command.flags:
        choices["partial"] = True
    if "still_seconds" in values:
        choices["still_seconds"] = values["still_seconds"]
    return choices


def _answer(command: Command) -> Answer | _Stored:
    if "no_cache" in command.flags or not _cache_has_entries():
        return Answer()  # nothing can be a hit: the CLI starts at once (and pre-starts manim)
    if sys.stderr.isatty() or any(os.environ.get(name) for name in _TERMINAL_ENVS):
        return Answer(all_hits=_single_hit(command))
    if {"json", "jsonl"} <= command.flags:
        return Answer()
    from manimagent.context import local_context
    from manimagent.services import batch
    from manimagent.services.engines import engine_name

    ctx = local_context()
    choices = _choices(command)
    if engine_name(ctx, choices["engine"], choices["container"]) != "local":
        return Answer()  # the docker engine's container and image are the CLI's to look up
    if batch.is_batch(command.files, jsonl="jsonl" in command.flags):
        return _batch(ctx, command, choices)
    return _single(ctx, command, choices)


def _cache_has_entries() -> bool:
    """Whether the render cache holds anything (a first render, or an emptied cache: no hit)."""
    from manimagent.paths import get_paths

    try:
        with os.scandir(get_paths().render_cache) as entries:
            return any(not entry.name.startswith(".") for entry in entries)
    except OSError:
        return False


def _single_hit(command: Command) -> bool:
    """Whether `render FILE` is a whole hit (nothing is written: the CLI stores it), so that the
    console script starts no render child for it."""
    from manimagent.context import local_context
    from manimagent.scriptcheck.source import read_script_file
    from manimagent.services import batch, cache_hits
    from manimagent.services.engines import engine_name
    from manimagent.services.render import render_options

    if batch.is_batch(command.files, jsonl="jsonl" in command.flags):
        return False  # a batch starts no child of its own
    ctx = local_context()
    choices = _choices(command)
    if engine_name(ctx, choices["engine"], choices["container"]) != "local":
        return False
    plan = render_options(ctx, scenes=command.scenes or None, **choices)
    (file,) = command.files
    return cache_hits.find_cached(ctx, path=file, code=read_script_file(file), plan=plan) is not None


# --- one file: `render FILE` ---------------------------------------------------------------------


def _single(ctx, command: Command, choices: dict[str, Any]) -> Answer | _Stored:
    from manimagent.scriptcheck.source import read_script_file
    from manimagent.services import cache_hits
    from manimagent.services.render import render_options

    (file,) = command.files
    plan = render_options(ctx, scenes=command.scenes or None, **choices)
    found = cache_hits.find_cached(ctx, path=file, code=read_script_file(file), plan=plan)
    if found is None:
        return Answer()
    (document,) = cache_hits.store_cached(ctx, [found])

    def show() -> None:
        for event in cache_hits.cached_events(found, document):
            _print_event(event)
        if "json" in command.flags:
            _print_json(document)
        else:
            _out(document["output_path"] or "")

    return _Stored(show)


def _print_event(event) -> None:
    """As cli/progress.EventPrinter prints it when stderr is not a terminal."""
    kind = event.kind
    if kind == "fix_applied":
        _err(f"Fixed{f' (line {event.line})' if event.line else ''}: {event.description}")
    elif kind == "check_finding":
        _err(f"{event.severity}: {event.message}")
    elif kind == "render_started":
        _err(
            f"Rendering {', '.join(event.scenes)} with {event.engine} (attempt {event.attempt} of "
            f"{event.max_attempts})"
        )
    elif kind == "done":
        _err(f"Done: {event.output_path}")


# --- a batch: several files, a folder, a pattern, or --jsonl ----------------------------------------


def _batch(ctx, command: Command, choices: dict[str, Any]) -> Answer | _Stored:
    """As cli/commands_batch.render_batch with cli/batch_display.BatchDisplay's plain lines."""
    from manimagent.services import batch

    items = batch.files_to_render(command.files)
    jobs = command.values.get("jobs")
    choice = batch.default_jobs(ctx) if jobs is None else None
    lines = _PlainBatch(len(items), min(jobs or (choice.jobs if choice else 1), len(items)), command.flags)
    result = batch.render_cached(
        replace(ctx, events=lines.keep),
        items=items,
        jobs=jobs or (choice.jobs if choice else 1),
        scenes=command.scenes or None,
        **choices,
    )
    if result is None:
        return Answer()

    def show() -> None:
        if choice is not None:
            _err(choice.announcement(len(items)))
        lines.replay()
        lines.summary(len(result.documents), result.seconds)
        if "json" in command.flags:
            _print_json(result.documents)
        elif "jsonl" not in command.flags:
            for doc in result.documents:
                _out(doc.get("output_path") or doc.get("script_id") or "")

    return _Stored(show)


class _PlainBatch:
    """The batch display's plain lines (stderr not a terminal), and --jsonl's documents. Events are
    kept while the items are stored, and printed once they all are (nothing is printed for a
    batch that then goes to the CLI)."""

    def __init__(self, total: int, jobs: int, flags: set[str]):
        self.total, self.jobs, self.flags = total, jobs, flags
        self.events: list[tuple[float, Any]] = []

    def keep(self, event) -> None:
        self.events.append((time.monotonic(), event))

    def replay(self) -> None:
        from manimagent.services.batch import short_label

        started: dict[int, float] = {}
        done = 0
        for moment, event in self.events:
            if event.kind == "item_started":
                started[event.item] = moment
                _err(f"started {short_label(event.label, tail=event.source == 'file')}")
            elif event.kind == "item_finished":
                done += 1
                seconds = moment - started.get(event.item, moment)
                label = short_label(event.label, tail=event.source == "file")
                where = event.document.get("output_path") or event.document.get("script_id") or ""
                _err(f"[{done}/{self.total}] done {label} -> {where} ({seconds:.1f} s)")
                if "jsonl" in self.flags:
                    _out(json.dumps(event.document, ensure_ascii=False))

    def summary(self, succeeded: int, seconds: float) -> None:
        _err(
            f"{self.total} item{'s' if self.total != 1 else ''}: {succeeded} succeeded, 0 failed in "
            f"{seconds:.1f} s (--jobs {self.jobs})"
        )


# --- output ----------------------------------------------------------------------------------------


def _print_json(doc: Any) -> None:
    """As cli/output.Output.json prints a document."""
    _out(json.dumps(doc, indent=2, ensure_ascii=False))


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
