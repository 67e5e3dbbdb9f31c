"""Many videos at once: `render FILE|DIR|GLOB...` and `generate --from FILE`.

A batch is a list of items run on a pool of `jobs` threads, each item through the one-item service
(`services.render.render_file`, `services.generate.generate`), so every item gets its own Script
and Execution rows exactly as a single command would. Events are wrapped in `ItemEvent`s tagged
with the item, so an adapter can draw a line per running job.

Ctrl-C (or SIGTERM, which the console script turns into KeyboardInterrupt) reaches only the main
thread; `run_batch` then raises KeyboardInterrupt inside every thread that is rendering, so each
render stops exactly as a single render does on Ctrl-C (its sandbox killed, its Execution row
`interrupted`), and every item that never started gets an `interrupted` document.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from manimagent.context import Context
from manimagent.errors import BadInput, ExitCode, ManimagentError
from manimagent.events import Event, EventSink, RenderStarted
from manimagent.render.base import RENDER_CHOICES, OutputFormat, Quality

MAX_JOBS = 64
CLEANUP_TIMEOUT = 60.0  # seconds to wait, after Ctrl-C, for the running items to settle their rows
POLL_SECONDS = 0.2
GLOB_CHARACTERS = frozenset("*?[")
INTERRUPTED = "interrupted"
LABEL_WIDTH = 48  # an item's label on the display

# The keys a JSON Lines item of `generate --from` may have, and the type each must be.
PROMPT_LINE_KEYS: dict[str, tuple[type, ...]] = {
    "prompt": (str,),
    "provider": (str,),
    "model": (str,),
    "quality": (str,),
    "format": (str,),
    "engine": (str,),
    "container": (str,),
    "max_attempts": (int,),
    "still_seconds": (int, float),
    "output": (str,),
    "execute": (bool,),
}
CHOICES = {"quality": Quality, "format": OutputFormat}


@dataclass(frozen=True)
class BatchItem:
    """One thing to make: a file to render, or a prompt (with its own options) to generate."""

    index: int  # its place in the input, from 0
    file: str | None = None
    prompt: str | None = None
    line: int | None = None  # the line of the --from file it came from
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.file if self.file is not None else (self.prompt or "")

    @property
    def source(self) -> str:
        return "file" if self.file is not None else "prompt"

    def tag(self) -> dict[str, Any]:
        """What tells this item's document apart from the others': `file`, or `prompt` (and `line`)."""
        if self.file is not None:
            return {"file": self.file}
        return {"prompt": self.prompt, "line": self.line}


@dataclass
class ItemStarted(Event):
    kind: ClassVar[str] = "item_started"
    item: int
    label: str
    source: str = "file"  # file | prompt


@dataclass
class ItemEvent(Event):
    """A pipeline event of one item."""

    kind: ClassVar[str] = "item_event"
    item: int
    event: Event

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "item": self.item, "inner": self.event.to_dict()}


@dataclass
class ItemFinished(Event):
    """An item is over: `status` is succeeded, failed or interrupted; `document` is its output."""

    kind: ClassVar[str] = "item_finished"
    item: int
    label: str
    status: str
    document: dict[str, Any]
    source: str = "file"  # file | prompt


@dataclass
class BatchResult:
    documents: list[dict[str, Any]]  # one per item, in input order
    jobs: int
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for doc in self.documents if item_status(doc) == status)

    @property
    def all_succeeded(self) -> bool:
        return all(doc.get("success") for doc in self.documents)


def short_label(label: str, width: int = LABEL_WIDTH, *, tail: bool = False) -> str:
    """An item's label in one line of at most `width` characters: a long prompt keeps its start, a
    path (`tail`) its end."""
    text = " ".join(label.split())
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if tail else text[: width - 1] + "…"


def item_status(doc: dict[str, Any]) -> str:
    if doc.get("success"):
        return "succeeded"
    return INTERRUPTED if doc.get("status") == INTERRUPTED else "failed"


# --- what to run -------------------------------------------------------------------------------


def is_batch(files: list[str], *, jsonl: bool) -> bool:
    """One FILE without --jsonl is today's `render FILE` (a missing one, or a folder named like a
    script, is reported as it always was); several, a folder or a pattern make a batch."""
    if jsonl or len(files) != 1:
        return True
    path = Path(files[0]).expanduser()
    if path.is_dir():
        return path.suffix != ".py"
    return not path.exists() and bool(GLOB_CHARACTERS & set(files[0]))


def files_to_render(arguments: Iterable[str]) -> list[BatchItem]:
    """FILE, DIR (its `*.py` files, sorted) and GLOB arguments as items, in order, each file once.

    Raises BadInput (before anything starts) for a missing file, a folder without `.py` files, or a
    pattern that matches nothing."""
    files: list[str] = []
    seen: set[Path] = set()
    for argument in arguments:
        for path in _expand(argument):
            resolved = Path(path).resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(path)
    if not files:
        raise BadInput("no files to render", hint="Give Manim files (.py), folders of them, or patterns")
    return [BatchItem(index=number, file=path) for number, path in enumerate(files)]


def _expand(argument: str) -> list[str]:
    path = Path(argument).expanduser()
    if path.is_dir():
        found = sorted(str(child) for child in path.glob("*.py") if child.is_file())
        if not found:
            raise BadInput(
                f"the folder {argument} has no .py files", hint="Point at a folder of Manim scripts"
            )
        return found
    if path.is_file():
        return [str(path)]
    if GLOB_CHARACTERS & set(argument):
        found = sorted(match for match in glob.glob(str(path), recursive=True) if Path(match).is_file())
        if not found:
            raise BadInput(
                f"no file matches {argument}", hint="Check the pattern (quote it to let manimagent expand it)"
            )
        return found
    if path.exists():
        raise BadInput(f"{argument} is not a file or a folder")
    raise BadInput(f"file not found: {argument}", hint="Check the path; nothing was rendered")


def prompts_to_generate(text: str, origin: str) -> list[BatchItem]:
    """Items from `--from`: one prompt a line, or a JSON object a line (a line starting with `{`).

    Blank lines and lines starting with `#` are skipped. A bad line raises BadInput naming it,
    before anything starts."""
    items: list[BatchItem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        prompt, options = _prompt_line(line, f"{origin} line {number}")
        items.append(BatchItem(index=len(items), prompt=prompt, line=number, options=options))
    if not items:
        raise BadInput(
            f"{origin} has no prompts",
            hint='Write one prompt a line, or one JSON object a line with a "prompt"',
        )
    return items


def _prompt_line(line: str, where: str) -> tuple[str, dict[str, Any]]:
    from manimagent.services.generate import clean_prompt

    if not line.startswith("{"):
        return clean_prompt(line, f"the prompt on {where}"), {}
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{where} is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(fields, dict):
        raise BadInput(f"{where} must be a JSON object")
    _check_fields(fields, where)
    options = {key: value for key, value in fields.items() if key != "prompt"}
    return clean_prompt(fields.get("prompt"), f"the prompt on {where}"), options


def _check_fields(fields: dict[str, Any], where: str) -> None:
    unknown = sorted(set(fields) - set(PROMPT_LINE_KEYS))
    if unknown:
        raise BadInput(
            f"{where} has unknown keys: {', '.join(unknown)}", hint=f"Use: {', '.join(PROMPT_LINE_KEYS)}"
        )
    if "prompt" not in fields:
        raise BadInput(f'{where} has no "prompt"')
    for key, value in fields.items():
        kinds = PROMPT_LINE_KEYS[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(kind.__name__ for kind in kinds)
            raise BadInput(f'{where}: "{key}" must be {wanted}, got {json.dumps(value)}')
        if key in CHOICES and str(value).lower() not in {choice.value for choice in CHOICES[key]}:
            raise BadInput(
                f"{where}: unknown {key} {value!r}",
                hint=f"Use one of: {', '.join(choice.value for choice in CHOICES[key])}",
            )


# --- how many at once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobsChoice:
    jobs: int
    reason: str  # how the default was found, for the help and the display

    def announcement(self, count: int) -> str:
        """The line that says how many run at once, and why, when --jobs was not given."""
        return (
            f"{count} item{'s' if count != 1 else ''}, {min(self.jobs, count)} at a time: "
            f"{self.reason} (--jobs N to choose)"
        )


def default_jobs(ctx: Context) -> JobsChoice:
    """The CPU cores, capped by memory: available memory / render.memory (each render may use that much)."""
    from manimagent.render.sandbox import parse_size

    cores = os.cpu_count() or 1
    per_render = parse_size(ctx.settings.render_memory, "render.memory")
    available = available_memory()
    if not per_render or available is None:
        return JobsChoice(cores, f"the {cores} cores")
    by_memory = max(1, available // per_render)
    memory = f"{_gib(available)} available / render.memory {_gib(per_render)} allows {by_memory}"
    if by_memory < cores:
        return JobsChoice(by_memory, f"capped by memory: {memory}, fewer than the {cores} cores")
    return JobsChoice(cores, f"the {cores} cores; {memory}")


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux: MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def check_jobs(jobs: int | None, ctx: Context) -> int:
    if jobs is None:
        return default_jobs(ctx).jobs
    if not 1 <= jobs <= MAX_JOBS:
        raise BadInput(f"--jobs must be between 1 and {MAX_JOBS}, got {jobs}")
    return jobs


# --- the two batch commands ----------------------------------------------------------------------


def render_files(
    ctx: Context, *, items: list[BatchItem], jobs: int | None = None, **options: Any
) -> BatchResult:
    """Render each file item through `services.render.render_file` (every scene unless `scenes`)."""
    from manimagent.services.render import render_file, render_options

    ctx = pooled(ctx)
    render_options(ctx, **options)  # a bad option or an unreachable engine stops the batch before it starts

    def run(item_ctx: Context, item: BatchItem) -> dict[str, Any]:
        assert item.file is not None
        return render_file(item_ctx, path=item.file, **options).model_dump(mode="json")

    return run_batch(ctx, items, jobs=check_jobs(jobs, ctx), run=run)


def render_cached(ctx: Context, *, items: list[BatchItem], jobs: int, **options: Any) -> BatchResult | None:
    """The batch of `render_files` when the render cache holds every scene of every item: each
    stored without the render loop (services/cache_hits.py), with the events and documents a
    batch gives. None, with nothing written, when any item is not such a render (or anything is
    unexpected): the batch is then `render_files`'s to run."""
    from manimagent.scriptcheck.source import read_script_file
    from manimagent.services import cache_hits
    from manimagent.services.render import render_options

    ctx = pooled(ctx)
    started = time.monotonic()
    plan = render_options(ctx, **options)
    found = []
    for item in items:
        assert item.file is not None
        render = cache_hits.find_cached(ctx, path=item.file, code=read_script_file(item.file), plan=plan)
        if render is None:
            return None
        found.append(render)
    documents = cache_hits.store_cached(ctx, found)
    finished = []
    for item, render, document in zip(items, found, documents, strict=True):
        ctx.events(ItemStarted(item=item.index, label=item.label, source=item.source))
        for event in cache_hits.cached_events(render, document):
            ctx.events(ItemEvent(item=item.index, event=event))
        finished.append({**document, **item.tag()})
        ctx.events(
            ItemFinished(
                item=item.index,
                label=item.label,
                status="succeeded",
                document=finished[-1],
                source=item.source,
            )
        )
    return BatchResult(
        documents=finished, jobs=max(1, min(jobs, len(items))), seconds=time.monotonic() - started
    )


def generate_prompts(
    ctx: Context, *, items: list[BatchItem], jobs: int | None = None, execute: bool = True, **options: Any
) -> BatchResult:
    """Generate (and render) each prompt item through `services.generate.generate`; a line's own
    options (JSON Lines) win over the command's."""
    from manimagent.services.generate import generate
    from manimagent.services.render import render_options

    ctx = pooled(ctx)
    if execute:
        render_options(ctx, **{key: value for key, value in options.items() if key in RENDER_CHOICES})

    def run(item_ctx: Context, item: BatchItem) -> dict[str, Any]:
        chosen = {**options, **item.options}
        run_it = chosen.pop("execute", execute)
        return generate(item_ctx, prompt=item.prompt or "", execute=run_it, **chosen).model_dump(mode="json")

    return run_batch(ctx, items, jobs=check_jobs(jobs, ctx), run=run)


def pooled(ctx: Context) -> Context:
    """The context with local renders going through the warm pool (render/pool.py): manim is
    imported once per agent instead of once per item."""
    from manimagent.render.local import POOL_SETTING

    settings = replace(ctx.settings, values={**ctx.settings.values, POOL_SETTING: True})
    return replace(ctx, settings=settings)


# --- the pool ------------------------------------------------------------------------------------

ItemRunner = Callable[[Context, BatchItem], dict[str, Any]]


def run_batch(ctx: Context, items: list[BatchItem], *, jobs: int, run: ItemRunner) -> BatchResult:
    """Run every item on `jobs` threads; Ctrl-C interrupts them all (see the module docstring)."""
    ctx.manim_names()  # the installed manim's names, cached once here rather than by every thread
    started = time.monotonic()
    pool = _Pool(ctx, items, min(jobs, len(items)), run)
    interrupted = pool.run()
    return BatchResult(
        documents=pool.documents(),
        jobs=pool.size,
        interrupted=interrupted,
        seconds=time.monotonic() - started,
    )


class _Pool:
    def __init__(self, ctx: Context, items: list[BatchItem], size: int, run: ItemRunner):
        self.ctx = ctx
        self.items = items
        self.size = max(1, size)
        self.runner = run
        self.lock = threading.Lock()
        self.pending: deque[BatchItem] = deque(items)
        self.running: dict[int, BatchItem] = {}  # thread ident -> its item
        self.signalled: set[int] = set()  # threads sent a KeyboardInterrupt
        self.finished: dict[int, dict[str, Any]] = {}
        self.stopping = False

    def run(self) -> bool:
        """Run to the end; True when Ctrl-C stopped the batch."""
        exited = [threading.Event() for _ in range(self.size)]
        for number, flag in enumerate(exited):
            threading.Thread(
                target=self._work, args=(flag,), name=f"manimagent-batch-{number}", daemon=True
            ).start()
        try:
            _wait_for(exited, timeout=None)
            return False
        except KeyboardInterrupt:
            self._stop()
            _wait_for(exited, timeout=CLEANUP_TIMEOUT, patient=True)
            self._never_started()
            return True

    def documents(self) -> list[dict[str, Any]]:
        return [self.finished.get(item.index) or _interrupted_document(item) for item in self.items]

    def _work(self, exited: threading.Event) -> None:
        try:
            while (item := self._next()) is not None:
                self._finish(item, self._run_one(item))
        except KeyboardInterrupt:  # a late interrupt outside an item: the batch is stopping anyway
            pass
        finally:
            exited.set()

    def _next(self) -> BatchItem | None:
        with self.lock:
            if self.stopping or not self.pending:
                return None
            item = self.pending.popleft()
            self.running[threading.get_ident()] = item
            return item

    def _run_one(self, item: BatchItem) -> dict[str, Any]:
        tagged = _TaggedSink(self.ctx.events, item)
        result: dict[str, Any] | None = None
        execution_id = None
        try:
            try:
                self.ctx.events(ItemStarted(item=item.index, label=item.label, source=item.source))
                result = self.runner(replace(self.ctx, events=tagged), item)
            finally:
                self._leave()
        except KeyboardInterrupt as exc:  # the pipeline settled the attempt's rows and says which
            execution_id = getattr(exc, "execution_id", None)
        except Exception as exc:  # noqa: BLE001 - one item's failure (or bug) must not end the others
            if not self.stopping:  # while stopping, an engine's error on the way out is the interrupt
                result = _error_document(exc)
        if result is None:  # interrupted
            # settled again in case an error on the way out, or an interrupt outside an attempt,
            # kept the pipeline from it
            return _interrupted_document(item, *_settle(self.ctx, execution_id or tagged.execution_id))
        return {**result, **item.tag()}

    def _leave(self) -> None:
        """This thread's item is over: no KeyboardInterrupt is sent to it from now on."""
        ident = threading.get_ident()
        with self.lock:
            self.running.pop(ident, None)
            if ident in self.signalled:  # sent but maybe not raised yet: it must not land elsewhere
                self.signalled.discard(ident)
                _set_async_interrupt(ident, None)

    def _finish(self, item: BatchItem, document: dict[str, Any]) -> None:
        with self.lock:
            if item.index in self.finished:  # written off as interrupted while it was still unwinding
                return
            self.finished[item.index] = document
        try:
            self.ctx.events(
                ItemFinished(
                    item=item.index,
                    label=item.label,
                    status=item_status(document),
                    document=document,
                    source=item.source,
                )
            )
        except Exception:  # noqa: BLE001 - a sink's failure (a closed pipe) must not stop the other items
            pass

    def _stop(self) -> None:
        with self.lock:
            self.stopping = True
            for ident in self.running:
                self.signalled.add(ident)
                _set_async_interrupt(ident, KeyboardInterrupt)

    def _never_started(self) -> None:
        with self.lock:
            waiting = [item for item in self.items if item.index not in self.finished]
        for item in waiting:
            self._finish(item, _interrupted_document(item))


def _wait_for(exited: list[threading.Event], *, timeout: float | None, patient: bool = False) -> None:
    """Wait until every thread has set its flag, in short sleeps (so Ctrl-C is seen); `patient`: a
    further Ctrl-C does not stop the wait, the rows of the running items are being settled.

    Not Thread.join: on Python < 3.13 a KeyboardInterrupt landing inside join() can mark a thread
    that still runs as stopped (the bpo-45274 repair releases the lock the running thread holds),
    and the batch would then write off an item that is still settling its rows."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while waiting := [flag for flag in exited if not flag.is_set()]:
        if deadline is not None and time.monotonic() > deadline:
            return
        try:
            waiting[0].wait(POLL_SECONDS)
        except KeyboardInterrupt:
            if not patient:
                raise


def _set_async_interrupt(ident: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in thread `ident` at its next bytecode (None: cancel one not raised yet).

    The render waits in short slices (`RunningProcess.wait`, a pooled render's answer), so the
    exception lands there and the render is stopped exactly as Ctrl-C stops a single one."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exception) if exception else None
    )


class _TaggedSink:
    """The events of one item, wrapped as ItemEvents; remembers the item's current execution."""

    def __init__(self, sink: EventSink, item: BatchItem):
        self.sink = sink
        self.item = item
        self.execution_id: str | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RenderStarted) and event.execution_id:
            self.execution_id = event.execution_id
        self.sink(ItemEvent(item=self.item.index, event=event))


def _error_document(exc: Exception) -> dict[str, Any]:
    """An item that stopped with an error before or instead of a result (as `--json` would say)."""
    if isinstance(exc, ManimagentError):
        error, code = exc.one_line(), int(exc.exit_code)
    else:
        error, code = f"unexpected {type(exc).__name__}: {exc}", int(ExitCode.FAILED)
    return {"success": False, "status": "failed", "error": error, "exit_code": code}


def _settle(ctx: Context, execution_id: str | None) -> tuple[str | None, str | None]:
    """An interrupted item's Execution still `running` becomes `interrupted` (its Script failed),
    in one session; (execution id, script id) when that row exists."""
    if not execution_id:
        return None, None
    from manimagent.store.attempts import settle_interrupted
    from manimagent.store.models import Execution

    try:
        with ctx.session() as session:
            row = session.get(Execution, execution_id)
            if row is None:
                return None, None
            script_id = row.script_id
            settle_interrupted(session, script_id, execution_id)
            return execution_id, script_id
    except Exception:  # noqa: BLE001 - the batch is stopping; the rows stay as the pipeline left them
        return execution_id, None


def _interrupted_document(
    item: BatchItem, execution_id: str | None = None, script_id: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "success": False,
        "status": INTERRUPTED,
        "error": INTERRUPTED,
        "exit_code": int(ExitCode.INTERRUPTED),
    }
    if execution_id:
        doc.update(execution_id=execution_id, script_id=script_id)
    return {**doc, **item.tag()}
