"""Reading a script: from a file or a string, refusing what is not a Manim script."""

from __future__ import annotations

import ast
from pathlib import Path

from manimagent.errors import BadInput, InvalidScript

MAX_SCRIPT_BYTES = 1_000_000


def read_script_file(path: str | Path) -> str:
    """The text of a script file; a one-line BadInput for anything unusable."""
    file = Path(path).expanduser()
    if not file.exists():
        raise BadInput(f"{path}: no such file", hint="Check the path")
    if file.is_dir():
        raise BadInput(f"{path} is a directory, not a script file", hint="Give the path of a .py file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}", hint="Check the file's permissions") from exc
    text = decode_script(data, str(path))
    if file.suffix.lower() not in PYTHON_SUFFIXES and not _parses(text):
        raise InvalidScript(
            f"{path} is not a Python file", hint="Give a Manim script (.py) with at least one Scene class"
        )
    return text


PYTHON_SUFFIXES = ("", ".py", ".pyw")


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def decode_script(data: bytes, label: str = "the script") -> str:
    if len(data) > MAX_SCRIPT_BYTES:
        raise InvalidScript(f"{label} is {len(data):,} bytes; scripts are limited to {MAX_SCRIPT_BYTES:,}")
    if b"\x00" in data:
        raise InvalidScript(f"{label} is a binary file, not a Python script")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidScript(f"{label} is not UTF-8 text (byte {exc.start})", hint="Save it as UTF-8") from exc
    if not text.strip():
        raise InvalidScript(f"{label} is empty", hint="Give a Manim script with at least one Scene class")
    return text


def parse_script(code: str, label: str = "the script") -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise InvalidScript(
            f"{label} has a syntax error{where}: {exc.msg}", details={"line": exc.lineno}
        ) from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise InvalidScript(f"{label} cannot be parsed: {exc}") from exc


def write_script_file(output: str, content: str, default_name: str) -> str:
    """Write a script to `output` (a folder gets `default_name` inside it); returns the path."""
    target = Path(output).expanduser()
    if target.is_dir():
        target = target / default_name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc.strerror}") from exc
    return str(target)
