"""Deterministic fixes: the cheap wins applied before an LLM is paid to repair.

Two tables: renames of names manim does not define (ManimGL and removed CE names, invented
colours and constants), applied before every render; and fixes keyed on a render failure
(2-D points, LaTeX missing), applied after one. Every applied fix is recorded.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass

from manimagent.render.base import RenderFailure

# undefined name -> replacement source text
NAME_FIXES: dict[str, str] = {
    "ShowCreation": "Create",
    "ShowCreationThenDestruction": "ShowPassingFlash",
    "ShowCreationThenFadeOut": "ShowPassingFlash",
    "CircleIndicate": "Circumscribe",
    "TextMobject": "Tex",
    "TexMobject": "MathTex",
    "TexText": "Tex",
    "ParametricSurface": "Surface",
    "FadeInFrom": "FadeIn",
    "FadeInFromDown": "FadeIn",
    "FadeInFromLarge": "FadeIn",
    "FadeOutAndShift": "FadeOut",
    "FadeOutAndShiftDown": "FadeOut",
    "GrowFromEdge": "GrowFromCenter",
    "CYAN": "TEAL",
    "MAGENTA": "PINK",
    "VIOLET": "PURPLE",
    "INDIGO": "PURPLE_E",
    "BROWN": "DARK_BROWN",
    "LIME": "GREEN_B",
    "NAVY": "DARK_BLUE",
    "CRIMSON": "RED_E",
    "SILVER": "LIGHT_GRAY",
    "FRAME_WIDTH": "config.frame_width",
    "FRAME_HEIGHT": "config.frame_height",
    "FRAME_X_RADIUS": "(config.frame_width / 2)",
    "FRAME_Y_RADIUS": "(config.frame_height / 2)",
    "Color": "ManimColor",
}
# method renamed in CE -> its new name
ATTRIBUTE_FIXES: dict[str, str] = {
    "get_graph": "plot",
    "get_parametric_curve": "plot_parametric_curve",
    "add_coordinate_labels": "add_coordinates",
}
TEX_CLASSES = {"MathTex", "Tex", "TexMobject", "TextMobject", "TexText"}
POINT_CALLS = {"move_to", "shift", "Dot", "Line", "Arrow", "DashedLine", "Polygon", "next_to", "Dot3D"}
_UNESCAPED_TEX = re.compile(r"(?<!\\)\\[abfnrtv]")


@dataclass(frozen=True)
class AppliedFix:
    name: str
    description: str
    line: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Source:
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

    def replace_tail(self, node: ast.AST, old: str, new: str) -> None:
        """Replace the last `len(old)` bytes of the node (an attribute name)."""
        start, end = self.span(node)
        self.edits.append(_Edit(end - len(old.encode()), end, new))

    def result(self) -> str:
        data = self.data
        taken: list[tuple[int, int]] = []
        for edit in sorted(self.edits, key=lambda item: item.start, reverse=True):
            if any(edit.start < end and start < edit.end for start, end in taken):
                continue  # overlapping edit: keep the outer one applied first
            data = data[: edit.start] + edit.text.encode("utf-8") + data[edit.end :]
            taken.append((edit.start, edit.end))
        return data.decode("utf-8")


def fix_before_render(code: str, undefined: set[str], has_latex: bool) -> tuple[str, list[AppliedFix]]:
    """Rename undefined ManimGL/removed names and attributes; make TeX strings raw; Text without LaTeX."""
    tree = ast.parse(code)
    source = _Source(code)
    fixes: list[AppliedFix] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in undefined and node.id in NAME_FIXES:
            new = NAME_FIXES[node.id]
            source.replace(node, new)
            fixes.append(AppliedFix("rename", f"{node.id} -> {new}", node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTE_FIXES:
            new = ATTRIBUTE_FIXES[node.attr]
            source.replace_tail(node, node.attr, new)
            fixes.append(AppliedFix("rename-method", f".{node.attr}() -> .{new}()", node.lineno))
        elif isinstance(node, ast.Call) and _call_name(node) in TEX_CLASSES:
            fixes += _fix_tex_call(node, source, has_latex)
    fixes.sort(key=lambda fix: fix.line or 0)
    return (source.result(), fixes) if fixes else (code, [])


def fix_after_failure(code: str, failure: RenderFailure, has_latex: bool) -> tuple[str, list[AppliedFix]]:
    """A deterministic fix for a known failure, or (code, []) when there is none."""
    text = f"{failure.error_type}: {failure.message}"
    if _is_2d_point_error(text):
        return _fix_2d_points(code)
    if not has_latex and ("latex" in text.lower() or "dvisvgm" in text.lower()):
        return fix_before_render(code, set(), has_latex=False)
    return code, []


_TWO_COLUMNS = re.compile(r"\((?:\d+,\s*)?2,?\)")  # (2,) or (1,2): an array of 2-D points


def _is_2d_point_error(text: str) -> bool:
    """numpy's broadcast error where a 2-D point met manim's 3-D ones (`(2,)`, `(1,2) into (1,3)`)."""
    return "broadcast" in text and bool(_TWO_COLUMNS.search(text))


def _call_name(node: ast.Call) -> str | None:
    """The called name's last part: `Dot`, `move_to` in `Dot().move_to(...)`."""
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _fix_tex_call(node: ast.Call, source: _Source, has_latex: bool) -> list[AppliedFix]:
    if not has_latex:
        return _tex_to_text(node, source)
    fixes = []
    for arg in node.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            literal = source.text(arg)
            if literal[:1] in "\"'" and _UNESCAPED_TEX.search(literal) and "\\\\" not in literal:
                source.replace(arg, "r" + literal)
                fixes.append(AppliedFix("raw-tex-string", "TeX string made raw (\\f, \\t, \\n ... were escapes)", arg.lineno))
    return fixes


def _tex_to_text(node: ast.Call, source: _Source) -> list[AppliedFix]:
    strings = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    if len(strings) != len(node.args) or not strings:
        return []
    keywords = [source.text(keyword) for keyword in node.keywords if keyword.arg in {"color", "font_size"}]
    plain = _plain_math(" ".join(strings))
    source.replace(node, f"Text({plain!r}{''.join(', ' + item for item in keywords)})")
    return [AppliedFix("tex-to-text", f"{_call_name(node)} -> Text (LaTeX is not installed)", node.lineno)]


_LOST_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _plain_math(tex: str) -> str:
    for char, escape in _LOST_ESCAPES.items():
        tex = tex.replace(char, escape)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
    text = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", text)
    symbols = {r"\pi": "π", r"\theta": "θ", r"\alpha": "α", r"\beta": "β", r"\cdot": "·", r"\times": "×", r"\infty": "∞", r"\pm": "±", r"\leq": "≤", r"\geq": "≥", r"\neq": "≠", r"\sum": "Σ", r"\int": "∫", r"\Delta": "Δ", r"\lambda": "λ", r"\mu": "μ", r"\sigma": "σ"}
    for command, symbol in symbols.items():
        text = text.replace(command, symbol)
    text = re.sub(r"\\[a-zA-Z]+", "", text)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return " ".join(text.split()) or "?"


def _fix_2d_points(code: str) -> tuple[str, list[AppliedFix]]:
    tree = ast.parse(code)
    source = _Source(code)
    fixes: list[AppliedFix] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        for arg in _point_literals(node, name):
            literal = source.text(arg)
            closing = literal[-1]
            source.replace(arg, literal[:-1].rstrip().rstrip(",") + ", 0" + closing)
            fixes.append(AppliedFix("3d-point", "2-D point given a z coordinate of 0", arg.lineno))
    return (source.result(), fixes) if fixes else (code, [])


def _point_literals(node: ast.Call, name: str | None) -> list[ast.expr]:
    candidates: list[ast.expr] = []
    if name == "array" and node.args:
        candidates = [node.args[0]]
    elif name in POINT_CALLS:
        candidates = [*node.args, *(keyword.value for keyword in node.keywords)]
    return [
        item
        for item in candidates
        if isinstance(item, (ast.List, ast.Tuple))
        and len(item.elts) == 2
        and not any(isinstance(elt, (ast.List, ast.Tuple, ast.Starred)) for elt in item.elts)
    ]
