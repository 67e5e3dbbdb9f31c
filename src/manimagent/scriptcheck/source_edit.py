"""Editing a script by AST position: replacements applied back to front, the rest of it untouched."""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class SourceEdit:
    """Edits by AST position (which counts UTF-8 bytes), applied back to front."""

    def __init__(self, code: str):
        self.data = code.encode("utf-8")
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.edits: list[_Edit] = []

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.line_starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.line_starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return start, end

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def replace(self, node: ast.AST, text: str) -> None:
        self.edits.append(_Edit(*self.span(node), text))

    def replace_range(self, first: ast.AST, last: ast.AST, text: str) -> None:
        """Replace from the start of `first` to the end of `last` (neighbours in one expression)."""
        self.edits.append(_Edit(self.span(first)[0], self.span(last)[1], text))

    def replace_tail(self, node: ast.AST, old: str, new: str) -> None:
        """Replace the last `len(old)` bytes of the node (an attribute name)."""
        start, end = self.span(node)
        self.edits.append(_Edit(end - len(old.encode()), end, new))

    def replace_keyword_name(self, keyword: ast.keyword, new: str) -> None:
        start, _end = self.span(keyword)
        self.edits.append(_Edit(start, start + len((keyword.arg or "").encode()), new))

    def replace_alias(self, node: ast.ImportFrom, alias: ast.alias, text: str) -> None:
        self.replace(alias, text)

    def remove_keyword(self, call: ast.Call, keyword: ast.keyword) -> None:
        """Remove `keyword=value` and the comma that separates it from its neighbour."""
        items = sorted([*call.args, *call.keywords], key=lambda item: self.span(item)[0])
        index = items.index(keyword)
        start, end = self.span(keyword)
        if index > 0:
            start = self.span(items[index - 1])[1]
        elif index + 1 < len(items):
            end = self.span(items[index + 1])[0]
        self.edits.append(_Edit(start, end, ""))

    def insert_line(self, line: int, text: str) -> None:
        """Insert a whole line before line `line` (1-based; past the end appends)."""
        at = self.line_starts[min(line - 1, len(self.line_starts) - 1)]
        prefix = b"" if at == 0 or self.data[at - 1 : at] == b"\n" else b"\n"
        self.edits.append(_Edit(at, at, prefix.decode() + text + "\n"))

    def result(self) -> str:
        data = self.data
        taken: list[tuple[int, int]] = []
        for edit in sorted(self.edits, key=lambda item: item.start, reverse=True):
            if any(edit.start < end and start < edit.end for start, end in taken):
                continue  # overlapping edit: keep the outer one applied first
            data = data[: edit.start] + edit.text.encode("utf-8") + data[edit.end :]
            taken.append((edit.start, edit.end))
        return data.decode("utf-8")


def call_name(node: ast.Call) -> str | None:
    """The called name's last part: `Dot`, `move_to` in `Dot().move_to(...)`."""
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None
