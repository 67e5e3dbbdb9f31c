"""`Text("first part", "second part")`: Tex and MathTex take several strings (they are joined),
Text and MarkupText take one; the second string lands on `fill_opacity` and the render fails with
`ValueError: could not convert string to float`. The parts become one string, a space between
two parts unless one already has it at the seam (the joined text is what the author wrote)."""

from __future__ import annotations

import ast

from manimagent.scriptcheck.source_edit import SourceEdit
from manimagent.scriptcheck.source_edit import call_name as _call_name

ONE_STRING_CLASSES = {"Text", "MarkupText"}


def join_text_parts(code: str) -> tuple[str, list[tuple[str, int]]]:
    """Each Text/MarkupText call given several string literals, with them joined into its first."""
    tree = ast.parse(code)
    source = SourceEdit(code)
    fixes: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _call_name(node) not in ONE_STRING_CLASSES:
            continue
        strings = _leading_strings(node.args)
        if len(strings) < 2:
            continue
        values = [str(part.value) for part in strings]
        joined = values[0]
        for value in values[1:]:
            seam = joined[-1:].isspace() or value[:1].isspace()
            joined += ("" if seam else " ") + value
        source.replace_range(strings[0], strings[-1], repr(joined))
        name = _call_name(node)
        fixes.append(
            (
                f"{name}: {len(strings)} strings joined into one ({name} takes one; Tex takes several)",
                node.lineno,
            )
        )
    return (source.result(), fixes) if fixes else (code, [])


def _leading_strings(args: list[ast.expr]) -> list[ast.Constant]:
    """The string literals the call starts with, when it passes nothing else positionally."""
    strings = [arg for arg in args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return strings if len(strings) == len(args) else []
