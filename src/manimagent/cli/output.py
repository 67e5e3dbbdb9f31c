"""The CLI's one output object: results to stdout, progress and errors to stderr, --json documents."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console

PIPED_TABLE_WIDTH = 10_000  # a table not on a terminal takes its natural width, up to this


def _jsonable(doc: Any) -> Any:
    if hasattr(doc, "model_dump"):  # a pydantic schema (pydantic is not imported to check)
        return doc.model_dump(mode="json")
    if isinstance(doc, (list, tuple)):
        return [_jsonable(item) for item in doc]
    return doc


class Output:
    def __init__(self) -> None:
        no_color = bool(os.environ.get("NO_COLOR"))
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, no_color=no_color, highlight=False)
        self.printed_json = False  # a failure after its document adds no second one

    def json(self, doc: Any) -> None:
        """Exactly one JSON document on stdout."""
        self.printed_json = True
        sys.stdout.write(json.dumps(_jsonable(doc), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.out.print(*objects, **kwargs)

    def line(self, text: str) -> None:
        """Plain text on stdout, no markup interpretation."""
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    def raw(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def info(self, text: str) -> None:
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def notice(self, text: str) -> None:
        self.err.print(f"[yellow]{_escape(text)}[/yellow]", soft_wrap=True)

    def success(self, text: str) -> None:
        self.err.print(f"[green]{_escape(text)}[/green]", soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]Error:[/bold red] {_escape(text)}", soft_wrap=True)

    def table(self, columns: Iterable[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
        from rich.table import Table

        piped = not self.out.is_terminal  # a pipe or a file: one line per row, cells never folded
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold", no_wrap=piped)
        for row in rows:
            table.add_row(*("" if cell is None else _escape(str(cell)) for cell in row))
        if piped:
            wide = Console(
                file=sys.stdout,
                width=PIPED_TABLE_WIDTH,
                no_color=self.out.no_color,
                highlight=False,
                soft_wrap=True,
            )
            wide.print(table)
        else:
            self.out.print(table)

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        for key, value in pairs:
            self.out.print(
                f"[bold]{key}:[/bold] {_escape('' if value is None else str(value))}", soft_wrap=True
            )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


output = Output()
