"""`manimagent eval SUITE`: measure generation on a suite (success@1, success@k, attempts), and
`eval compare A B` / `eval list` / `eval show ID` for the stored runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from manimagent.cli.options import JsonOption
from manimagent.cli.output import output

if TYPE_CHECKING:
    from manimagent.schemas import EvalItemResult, EvalRunPublic


class SuiteFirstGroup(TyperGroup):
    """`eval SUITE ...` runs the suite; `eval compare|list|show ...` are the other commands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=SuiteFirstGroup,
    help=(
        "Measure generation on a suite: `eval SUITE` (builtin, a JSONL file or a folder of .py files), "
        "`eval compare A B`."
    ),
    no_args_is_help=True,
)

ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider", "-p", help="Provider name or type for every item (default: as `generate` chooses)."
    ),
]
MaxAttemptsOption = Annotated[
    int | None,
    typer.Option(
        "--max-attempts",
        min=1,
        max=10,
        help="Render attempts per item, repairs included (default: config generate.max_attempts).",
    ),
]
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", min=1, max=8, help="Items rendered at the same time.")
]


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="eval")


@app.command("run")
def run(
    suite: Annotated[
        str,
        typer.Argument(
            help=(
                '`builtin`, a JSONL file of {"id", "prompt"} or {"id", "code"} lines, or a folder of .py '
                "files."
            )
        ),
    ],
    provider: ProviderOption = None,
    max_attempts: MaxAttemptsOption = None,
    jobs: JobsOption = 1,
    json_: JsonOption = False,
) -> None:
    """Render every item of SUITE, record how it went, store the run and print its table."""
    from manimagent.context import local_context
    from manimagent.services import evaluate

    result = evaluate.run_eval(
        local_context(),
        suite=suite,
        provider=provider,
        max_attempts=max_attempts,
        jobs=jobs,
        on_item=_progress,
    )
    if json_:
        return output.json(result)
    print_run(result)


def _progress(item: EvalItemResult) -> None:
    outcome = f"rendered in {item.attempts}" if item.rendered else f"failed ({item.first_error})"
    output.info(f"{item.item_id}: {outcome}, {item.seconds:.1f} s")


@app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(help="The earlier run's id (a prefix of 4+ characters works).")],
    b: Annotated[str, typer.Argument(help="The later run's id.")],
    json_: JsonOption = False,
) -> None:
    """Compare two stored runs: totals side by side and the items whose outcome changed."""
    from manimagent.context import local_context
    from manimagent.services import evaluate

    result = evaluate.compare_runs(local_context(), a=a, b=b)
    if json_:
        return output.json(result)
    rows = [
        (
            "success@1",
            _percent(result.a.success_at_1),
            _percent(result.b.success_at_1),
            f"{result.success_at_1_delta * 100:+.1f} pts",
        ),
        (
            "success@k",
            _percent(result.a.success_at_k),
            _percent(result.b.success_at_k),
            f"{result.success_at_k_delta * 100:+.1f} pts",
        ),
        (
            "median attempts",
            _number(result.a.median_attempts),
            _number(result.b.median_attempts),
            _number(result.median_attempts_delta, signed=True),
        ),
        ("items", result.a.items, result.b.items, ""),
    ]
    output.table(["", f"A {result.a.id[:8]}", f"B {result.b.id[:8]}", "change"], rows, title="eval compare")
    if result.changes:
        output.table(
            ["item", "A", "B"],
            [
                (c.item_id, _outcome(c.a_rendered, c.a_attempts), _outcome(c.b_rendered, c.b_attempts))
                for c in result.changes
            ],
            title=f"{len(result.fixed)} fixed, {len(result.broken)} broken",
        )


@app.command("list")
def list_(
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="At most N, newest first.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Stored eval runs, newest first."""
    from manimagent.context import local_context
    from manimagent.services import evaluate

    runs = evaluate.list_runs(local_context(), limit=limit)
    if json_:
        return output.json(runs)
    output.table(
        [
            "id",
            "suite",
            "provider",
            "items",
            "success@1",
            "success@k",
            "median attempts",
            "status",
            "created",
        ],
        [
            (
                r.id[:8],
                r.suite,
                r.provider or "-",
                r.items,
                _percent(r.success_at_1),
                _percent(r.success_at_k),
                _number(r.median_attempts),
                r.status,
                f"{r.created_at:%Y-%m-%d %H:%M}",
            )
            for r in runs
        ],
    )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Run id (a unique prefix of 4+ characters works).")],
    json_: JsonOption = False,
) -> None:
    """One stored run: its items and totals."""
    from manimagent.context import local_context
    from manimagent.services import evaluate

    result = evaluate.get_run(local_context(), ref=ref)
    if json_:
        return output.json(result)
    print_run(result)


def print_run(run: EvalRunPublic) -> None:
    """The items' table, then the totals."""
    output.table(
        ["item", "rendered", "attempts", "fixes", "layout", "first error", "seconds", "tokens", "cost"],
        [
            (
                i.item_id,
                "yes" if i.rendered else "no",
                i.attempts,
                ", ".join(i.fixes) or "-",
                len(i.layout) or "-",
                i.first_error or "-",
                f"{i.seconds:.1f}",
                i.tokens,
                _cost(i.cost),
            )
            for i in run.results
        ],
        title=(
            f"eval {run.id[:8]} · {run.suite} · provider {run.provider or 'default'} · max attempts "
            f"{run.max_attempts}"
        ),
    )
    output.line(
        f"{run.rendered}/{run.items} rendered · success@1 {_percent(run.success_at_1)} · "
        f"success@{run.max_attempts} {_percent(run.success_at_k)}"
        f" · median attempts {_number(run.median_attempts)} · {run.seconds:.1f} s · {run.tokens} "
        f"tokens · cost {_cost(run.cost)}"
    )
    output.line(f"run id: {run.id}")


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+g}" if signed else f"{value:g}"


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _outcome(rendered: bool | None, attempts: int | None) -> str:
    if rendered is None:
        return "not in run"
    return f"rendered ({attempts})" if rendered else f"failed ({attempts})"
