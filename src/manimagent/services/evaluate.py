"""`manimagent eval SUITE`: render a suite of prompts or recorded code, measure each item, store
the run, and compare two runs.

A suite is `builtin` (package data, graded prompts), a JSONL file of `{"id", "prompt"}` or
`{"id", "code"}` lines (recorded code needs no LLM for its first attempt), or a folder of `.py`
files. Every item goes through the same pipeline as `generate` / `render FILE`, so its scripts and
executions are stored as usual; the run keeps one EvalItem row per item.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from sqlmodel import col, select

from manimagent.context import Context
from manimagent.errors import BadInput, ManimagentError, NotFound
from manimagent.events import ignore
from manimagent.schemas import EvalComparison, EvalItemChange, EvalItemResult, EvalRunPublic
from manimagent.store.models import EvalItem, EvalRun, Execution, Script, utcnow

BUILTIN = "builtin"
MAX_JOBS = 8
MAX_SUITE_BYTES = 50_000_000
SUITE_HINT = (
    'Each line is {"id": "...", "prompt": "..."} or {"id": "...", "code": "..."};'
    " or give a folder of .py files, or `builtin`"
)
# USD per million tokens (input, output), list prices; a model not named here has no cost estimate.
PRICES: dict[str, tuple[float, float]] = {
    "recipes-v1": (0.0, 0.0),  # the offline provider
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
}

ItemSink = Callable[[EvalItemResult], None]


@dataclass(frozen=True)
class SuiteItem:
    id: str
    kind: str  # prompt | code
    text: str


# --- suites --------------------------------------------------------------------------------------


def load_suite(ref: str) -> list[SuiteItem]:
    """The items of `builtin`, a JSONL file or a folder of .py files; BadInput when there are none."""
    if ref == BUILTIN:
        return parse_jsonl(
            resources.files("manimagent.evals").joinpath("builtin.jsonl").read_text(encoding="utf-8"),
            "the built-in suite",
        )
    path = Path(ref).expanduser()
    if path.is_dir():
        return _folder_items(path)
    if not path.is_file():
        raise BadInput(
            f"suite {ref} does not exist", hint="Give a .jsonl file, a folder of .py files, or `builtin`"
        )
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise BadInput(f"suite {ref} is larger than {MAX_SUITE_BYTES:,} bytes")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"suite {ref} is not UTF-8 text (byte {exc.start})", hint=SUITE_HINT) from exc
    except OSError as exc:
        raise BadInput(f"cannot read suite {ref}: {exc.strerror}") from exc
    return parse_jsonl(text, f"suite {ref}")


def parse_jsonl(text: str, label: str) -> list[SuiteItem]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            raise BadInput(f"{label}: line {number} is not JSON", hint=SUITE_HINT) from None
        items.append(_item(document, f"{label}: line {number}"))
    return _checked(items, label)


def _item(document: object, where: str) -> SuiteItem:
    if not isinstance(document, dict):
        raise BadInput(f"{where} is not a JSON object", hint=SUITE_HINT)
    ident = document.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip():
        raise BadInput(f"{where} has no id", hint=SUITE_HINT)
    texts = {kind: document.get(kind) for kind in ("prompt", "code") if document.get(kind) is not None}
    if len(texts) != 1:
        raise BadInput(f"{where} needs exactly one of prompt or code", hint=SUITE_HINT)
    kind, text = texts.popitem()
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{where} has an empty {kind}", hint=SUITE_HINT)
    return SuiteItem(str(ident).strip(), kind, text)


def _folder_items(path: Path) -> list[SuiteItem]:
    files = sorted(path.glob("*.py"))
    items = [
        SuiteItem(file.stem, "code", file.read_bytes().decode("utf-8", errors="replace"))
        for file in files
        if file.is_file()
    ]
    return _checked(items, f"folder {path}")


def _checked(items: list[SuiteItem], label: str) -> list[SuiteItem]:
    if not items:
        raise BadInput(f"{label} has no items", hint=SUITE_HINT)
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise BadInput(f"{label}: the id {item.id!r} is used twice")
        seen.add(item.id)
    return items


# --- running -------------------------------------------------------------------------------------


def run_eval(
    ctx: Context,
    *,
    suite: str,
    provider: str | None = None,
    max_attempts: int | None = None,
    jobs: int = 1,
    on_item: ItemSink | None = None,
) -> EvalRunPublic:
    """Run every item of `suite` and store the run; `on_item` hears of each item as it finishes."""
    from manimagent.services import llm
    from manimagent.services.render import render_options

    items = load_suite(suite)
    if not 1 <= jobs <= MAX_JOBS:
        raise BadInput(f"--jobs must be between 1 and {MAX_JOBS}, got {jobs}")
    attempts = render_options(
        ctx, max_attempts=max_attempts, default_attempts=ctx.settings.max_attempts
    ).max_attempts
    if provider is not None:
        llm.candidates(ctx, provider)  # an unknown provider fails before anything is rendered
    ctx.manim_names()  # cached once here, not by several items at the same time
    run_id = _start_run(ctx, suite, provider, attempts, len(items))
    results: list[EvalItemResult] = []
    try:
        for result in _results(ctx, items, provider, attempts, jobs):
            _store_item(ctx, run_id, result)
            results.append(result)
            if on_item is not None:
                on_item(result)
    except BaseException:
        _finish_run(ctx, run_id, results, "interrupted")
        raise
    _finish_run(ctx, run_id, results, "finished")
    return get_run(ctx, ref=run_id)


def _results(
    ctx: Context, items: list[SuiteItem], provider: str | None, attempts: int, jobs: int
) -> Iterator[EvalItemResult]:
    if jobs == 1:  # in this thread: Ctrl-C reaches the render as it does for `render`
        yield from (run_item(ctx, item, provider, attempts) for item in items)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda item: run_item(ctx, item, provider, attempts), items)


def run_item(ctx: Context, item: SuiteItem, provider: str | None, attempts: int) -> EvalItemResult:
    """One item through the pipeline, measured; a failure of the item is its result, not an error."""
    quiet = replace(ctx, events=ignore)
    started = time.monotonic()
    script_id, error_class, error = None, None, None
    try:
        script_id, error = _render_item(quiet, item, provider, attempts)
    except ManimagentError as exc:
        error_class, error = type(exc).__name__, exc.one_line()
    return _measure(quiet, item, script_id, time.monotonic() - started, error_class, error)


def _render_item(
    ctx: Context, item: SuiteItem, provider: str | None, attempts: int
) -> tuple[str | None, str | None]:
    if item.kind == "prompt":
        from manimagent.services.generate import generate_script

        written = generate_script(
            ctx, prompt=item.text, provider=provider, auto_execute=True, max_attempts=attempts
        )
        return written.script_id, written.error
    from manimagent.attempt import NewScript
    from manimagent.pipeline import run_attempts
    from manimagent.services.generate import repairer_for
    from manimagent.services.render import render_options

    plan = render_options(ctx, max_attempts=attempts)
    repairer = repairer_for(ctx, plan, provider) if attempts > 1 else None
    done = run_attempts(
        ctx, NewScript(code=item.text, prompt=f"eval item {item.id}", source="imported"), plan, repairer
    )
    return done.script_id, done.error


def _measure(
    ctx: Context,
    item: SuiteItem,
    script_id: str | None,
    seconds: float,
    error_class: str | None,
    error: str | None,
) -> EvalItemResult:
    script, rows = _script_and_executions(ctx, script_id)
    rendered = any(row.is_successful for row in rows)
    failures = [row.error_type or "RenderError" for row in rows if not row.is_successful]
    first_error = error_class or (failures[0] if failures and not rows[0].is_successful else None)
    if not rendered and first_error is None:
        first_error = failures[0] if failures else "NoRender"
    return EvalItemResult(
        item_id=item.id,
        kind=item.kind,
        script_id=script_id,
        rendered=rendered,
        attempts=len(rows),
        fixes=list(
            dict.fromkeys(
                str(fix.get("name", "")) for row in rows for fix in row.fixes if isinstance(fix, dict)
            )
        ),
        layout=rows[-1].layout if rows else [],
        first_error=first_error,
        error=None if rendered else error or (rows[-1].error if rows else None),
        seconds=round(seconds, 3),
        tokens=script.total_tokens if script else 0,
        cost=cost_of(script.model, script.prompt_tokens, script.completion_tokens) if script else None,
    )


def _script_and_executions(ctx: Context, script_id: str | None) -> tuple[Script | None, list[Execution]]:
    if script_id is None:
        return None, []
    with ctx.session() as session:
        script = session.get(Script, script_id)
        query = (
            select(Execution).where(Execution.script_id == script_id).order_by(col(Execution.attempt_number))
        )
        return script, list(session.exec(query).all())


def cost_of(model: str | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The list-price cost in USD, when the model is in PRICES (longest matching name first)."""
    if not model:
        return 0.0 if prompt_tokens == completion_tokens == 0 else None
    name = model.lower().rsplit("/", 1)[-1]
    for known in sorted(PRICES, key=len, reverse=True):
        if name.startswith(known):
            rate_in, rate_out = PRICES[known]
            return round((prompt_tokens * rate_in + completion_tokens * rate_out) / 1_000_000, 6)
    return None


# --- storing -------------------------------------------------------------------------------------


def _start_run(ctx: Context, suite: str, provider: str | None, attempts: int, count: int) -> str:
    label = suite if suite == BUILTIN else str(Path(suite).expanduser().resolve())
    run = EvalRun(owner_id=ctx.user_id, suite=label, provider=provider, max_attempts=attempts, items=count)
    with ctx.session() as session:
        session.add(run)
        session.commit()
        return run.id


def _store_item(ctx: Context, run_id: str, result: EvalItemResult) -> None:
    with ctx.session() as session:
        session.add(EvalItem(run_id=run_id, **result.model_dump()))
        session.commit()


def totals(results: list[EvalItemResult]) -> dict[str, float | int | None]:
    """success@1 (rendered by the first attempt), success@k (rendered at all), median attempts of
    the rendered."""
    count = len(results) or 1
    rendered = [result for result in results if result.rendered]
    costs = [result.cost for result in results]
    return {
        "rendered": len(rendered),
        "success_at_1": round(sum(result.attempts == 1 for result in rendered) / count, 4),
        "success_at_k": round(len(rendered) / count, 4),
        "median_attempts": float(statistics.median(result.attempts for result in rendered))
        if rendered
        else None,
        "seconds": round(sum(result.seconds for result in results), 3),
        "tokens": sum(result.tokens for result in results),
        "cost": round(sum(c for c in costs if c is not None), 6) if costs and None not in costs else None,
    }


def _finish_run(ctx: Context, run_id: str, results: list[EvalItemResult], status: str) -> None:
    with ctx.session() as session:
        run = session.get(EvalRun, run_id)
        if run is None:
            return
        for name, value in totals(results).items():
            setattr(run, name, value)
        if status == "interrupted":
            run.items = len(results)
        run.status, run.finished_at = status, utcnow()
        session.add(run)
        session.commit()


# --- reading and comparing -----------------------------------------------------------------------


def list_runs(ctx: Context, *, limit: int | None = None) -> list[EvalRunPublic]:
    """Stored runs, newest first (without their items)."""
    from manimagent.store.owned import owned

    query = owned(select(EvalRun).order_by(col(EvalRun.created_at).desc()).limit(limit or 50), ctx, EvalRun)
    with ctx.session() as session:
        return [EvalRunPublic.model_validate(run) for run in session.exec(query).all()]


def get_run(ctx: Context, *, ref: str) -> EvalRunPublic:
    """One stored run with its items, by id or a unique prefix of 4+ characters."""
    from manimagent.services.ids import resolve_uuid

    with ctx.session() as session:
        try:
            run = resolve_uuid(session, ctx, EvalRun, ref, "eval run")
        except NotFound as exc:
            raise NotFound(exc.message, hint="List them with `manimagent eval list`") from None
        query = select(EvalItem).where(EvalItem.run_id == run.id).order_by(col(EvalItem.id))
        items = [EvalItemResult.model_validate(item) for item in session.exec(query).all()]
        return EvalRunPublic.model_validate({**run.model_dump(), "results": items})


def compare_runs(ctx: Context, *, a: str, b: str) -> EvalComparison:
    """Totals of both runs and the items whose outcome changed from A to B."""
    first, second = get_run(ctx, ref=a), get_run(ctx, ref=b)
    before = {item.item_id: item for item in first.results}
    after = {item.item_id: item for item in second.results}
    changes = []
    for item_id in [*before, *(key for key in after if key not in before)]:
        old, new = before.get(item_id), after.get(item_id)
        if old and new and (old.rendered, old.attempts) == (new.rendered, new.attempts):
            continue
        changes.append(
            EvalItemChange(
                item_id=item_id,
                a_rendered=old.rendered if old else None,
                b_rendered=new.rendered if new else None,
                a_attempts=old.attempts if old else None,
                b_attempts=new.attempts if new else None,
            )
        )
    medians = (first.median_attempts, second.median_attempts)
    return EvalComparison(
        a=first.model_copy(update={"results": []}),
        b=second.model_copy(update={"results": []}),
        success_at_1_delta=round(second.success_at_1 - first.success_at_1, 4),
        success_at_k_delta=round(second.success_at_k - first.success_at_k, 4),
        median_attempts_delta=None if None in medians else round(medians[1] - medians[0], 4),  # type: ignore[operator]
        fixed=[c.item_id for c in changes if c.a_rendered is False and c.b_rendered],
        broken=[c.item_id for c in changes if c.a_rendered and c.b_rendered is False],
        changes=changes,
    )
