"""Deterministic fixes: the cheap wins applied before an LLM is paid to repair.

Two tables: renames of names manim does not define (ManimGL and removed CE names, invented
colours and constants), applied before every render; and fixes keyed on a render failure
(2-D points, LaTeX missing), applied after one. Every applied fix is recorded.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from typing import Literal

from manimagent.render.base import RenderFailure
from manimagent.scriptcheck.colours import accepted_colour, refused_colour
from manimagent.scriptcheck.grounding import (
    fix_unknown_keywords,
    grounded_fix,
    name_fix,
    parse_api_error,
)
from manimagent.scriptcheck.manim_api import ManimApi, default_manim_api
from manimagent.scriptcheck.names import bound_names
from manimagent.scriptcheck.play_methods import MESSAGE as PLAY_METHOD
from manimagent.scriptcheck.play_methods import fix_play_methods
from manimagent.scriptcheck.source_edit import SourceEdit as _Source
from manimagent.scriptcheck.source_edit import call_name as _call_name

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
POINT_CALLS = {
    "move_to", "shift", "Dot", "Line", "Arrow", "DashedLine", "Polygon", "next_to", "Dot3D", "Polyline",
    "DoubleArrow", "CubicBezier", "ArcBetweenPoints", "CurvedArrow", "CurvedDoubleArrow",
    "put_start_and_end_on", "align_to", "Elbow",
}  # fmt: skip
# calls whose argument is a list of points (not np.array: a 2 x 2 array may be a matrix)
POINT_LIST_CALLS = {
    "set_points_as_corners",
    "add_points_as_corners",
    "set_points_smoothly",
    "Polygon",
    "Polyline",
    "VMobject",
}
_UNESCAPED_TEX = re.compile(r"(?<!\\)\\[abfnrtv]")
_NOT_A_VMOBJECT = "can be added as submobjects of VGroup"
# numpy's broadcast error for a 2-D point: "(2,)", "(1,2)" or "(n,2)" against a 3-D shape
_TWO_D_SHAPE = re.compile(r"\((?:\d+,\s?)?2,?\)")


@dataclass(frozen=True)
class AppliedFix:
    name: str
    description: str
    line: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def fix_before_render(
    code: str, undefined: set[str], has_latex: bool, api: ManimApi | None = None
) -> tuple[str, list[AppliedFix]]:
    """Rename undefined ManimGL/removed names and attributes; make TeX strings raw; Text without LaTeX.

    With `api`, an undefined name the table does not know gets the installed manim's one
    confident candidate (a case slip, a changelog rename, a bare numpy function, a stdlib module),
    and a manim class called with keywords its constructor chain rejects gets them fixed.
    """
    tree = ast.parse(code)
    source = _Source(code)
    fixes: list[AppliedFix] = []
    grounded = _grounded_names(undefined - set(NAME_FIXES), api, tree)
    own_functions = {
        node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in undefined and node.id in NAME_FIXES:
            new = NAME_FIXES[node.id]
            source.replace(node, new)
            fixes.append(AppliedFix("rename", f"{node.id} -> {new}", node.lineno))
        elif (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in grounded
            and not grounded[node.id].startswith("import ")
        ):
            source.replace(node, grounded[node.id])
            fixes.append(
                AppliedFix(
                    "api-grounded",
                    f"{node.id} -> {grounded[node.id]} (not defined; installed manim)",
                    node.lineno,
                )
            )
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ATTRIBUTE_FIXES
            and node.attr not in own_functions
        ):  # a script that defines its own get_graph keeps calling it
            new = ATTRIBUTE_FIXES[node.attr]
            source.replace_tail(node, node.attr, new)
            fixes.append(AppliedFix("rename-method", f".{node.attr}() -> .{new}()", node.lineno))
        elif isinstance(node, ast.Call) and _call_name(node) in TEX_CLASSES:
            fixes += _fix_tex_call(node, source, has_latex)
    if api is not None:
        keywords = fix_unknown_keywords(tree, source, api, bound_names(tree))
        fixes += [AppliedFix("api-grounded", fix.description, fix.line) for fix in keywords]
    for name, new in sorted(grounded.items()):
        if new.startswith("import "):
            source.insert_line(_after_imports(tree), new)
            fixes.append(AppliedFix("add-import", f"added `{new}` ({name} was used without it)", 1))
    fixes.sort(key=lambda fix: fix.line or 0)
    return (source.result(), fixes) if fixes else (code, [])


def _grounded_names(undefined: set[str], api: ManimApi | None, tree: ast.Module) -> dict[str, str]:
    """The one confident candidate per undefined name (see grounding.name_fix)."""
    if api is None:
        return {}
    found = {name: name_fix(name, tree, api) for name in sorted(undefined)}
    return {name: new for name, new in found.items() if new}


def add_star_import(code: str) -> tuple[str, list[AppliedFix]]:
    """Insert `from manim import *` (a script that uses manim's names without importing them)."""
    tree = ast.parse(code)
    source = _Source(code)
    line = _after_imports(tree, future_only=True)
    source.insert_line(line, "from manim import *")
    return source.result(), [
        AppliedFix(
            "add-import", "added `from manim import *` (the script uses manim's names without it)", line
        )
    ]


def _after_imports(tree: ast.Module, future_only: bool = False) -> int:
    """The line a new import goes on: after `from __future__` (and the other imports unless future_only)."""
    nodes: list[ast.Import | ast.ImportFrom] = [
        node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"
    ]
    if not future_only:
        nodes += [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    ends = [node.end_lineno or node.lineno for node in nodes]
    return max(ends) + 1 if ends else 1


def fix_after_failure(
    code: str, failure: RenderFailure, has_latex: bool, api: ManimApi | None | Literal["default"] = "default"
) -> tuple[str, list[AppliedFix]]:
    """A deterministic fix for a known failure, or (code, []) when there is none.

    `api`: the installed manim's API for the grounded fixes (attribute, keyword, name, import);
    by default the one cached under this home, None to skip them.
    """
    text = f"{failure.error_type}: {failure.message}"
    if _is_2d_point_error(text):
        return _fix_2d_points(code)
    if not has_latex and ("latex" in text.lower() or "dvisvgm" in text.lower()):
        return fix_before_render(code, set(), has_latex=False)
    if failure.error_type == "TypeError" and _NOT_A_VMOBJECT in failure.message:
        return _vgroup_to_group(code, failure.line)
    play_method = failure.error_type == "TypeError" and PLAY_METHOD in failure.message
    refused = refused_colour(failure.message) if failure.error_type == "ValueError" else None
    if not play_method and refused is None and parse_api_error(failure) is None:
        return code, []
    if api == "default":
        api = default_manim_api()
    if api is None:
        return code, []
    if play_method:
        fixed, found = fix_play_methods(code, api)
        return fixed, [AppliedFix("play-method", description, line) for description, line in found]
    if refused is not None:
        return _fix_refused_colour(code, refused, api.names)
    fixed, grounded = grounded_fix(code, failure, api)
    if grounded and _parses(fixed):
        return fixed, [AppliedFix("api-grounded", fix.description, fix.line) for fix in grounded]
    return code, []


_TWO_COLUMNS = re.compile(r"\((?:\d+,\s*)?2,?\)")  # (2,) or (1,2): an array of 2-D points


def _is_2d_point_error(text: str) -> bool:
    """numpy's broadcast error where a 2-D point met manim's 3-D ones (`(2,)`, `(1,2) into (1,3)`)."""
    return "broadcast" in text and bool(_TWO_COLUMNS.search(text))


def _vgroup_to_group(code: str, line: int | None) -> tuple[str, list[AppliedFix]]:
    """A VGroup given a non-vector mobject (an image, a Group) on the failing line becomes a Group."""
    if line is None:
        return code, []
    tree = ast.parse(code)
    targets = _vgroup_names_on(tree, line)
    source = _Source(code)
    fixes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "VGroup" and id(node) in targets:
            source.replace(node, "Group")
            fixes.append(
                AppliedFix(
                    "group", "VGroup -> Group (it holds a mobject that is not a VMobject)", node.lineno
                )
            )
    return (source.result(), fixes) if fixes else (code, [])


def _vgroup_names_on(tree: ast.Module, line: int) -> set[int]:
    """The `VGroup` names called on `line`, else those of the VGroup assigned to the variable
    `.add`ed to there."""
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and node.lineno <= line <= (node.end_lineno or node.lineno)
    ]
    here = {id(call.func) for call in calls if isinstance(call.func, ast.Name) and call.func.id == "VGroup"}
    if here:
        return here
    added = {
        ast.unparse(call.func.value)
        for call in calls
        if isinstance(call.func, ast.Attribute) and call.func.attr == "add"
    }
    return {
        id(node.value.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and ast.unparse(node.targets[0]) in added
        and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "VGroup"
    }  # fmt: skip


def _fix_refused_colour(code: str, value: str, manim_names: frozenset[str]) -> tuple[str, list[AppliedFix]]:
    """Every string literal equal to the refused colour, rewritten to a form ManimColor takes."""
    new = accepted_colour(value, manim_names)
    if new is None:
        return code, []
    source = _Source(code)
    fixes = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and node.value == value:
            source.replace(node, repr(new))
            fixes.append(
                AppliedFix("colour", f"colour {value!r} -> {new!r} (a form ManimColor takes)", node.lineno)
            )
    return (source.result(), fixes) if fixes else (code, [])


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _fix_tex_call(node: ast.Call, source: _Source, has_latex: bool) -> list[AppliedFix]:
    if not has_latex:
        return _tex_to_text(node, source)
    fixes = []
    for arg in node.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            literal = source.text(arg)
            if literal[:1] in "\"'" and _UNESCAPED_TEX.search(literal) and "\\\\" not in literal:
                source.replace(arg, "r" + literal)
                fixes.append(
                    AppliedFix(
                        "raw-tex-string", "TeX string made raw (\\f, \\t, \\n ... were escapes)", arg.lineno
                    )
                )
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
    symbols = {
        r"\pi": "π",
        r"\theta": "θ",
        r"\alpha": "α",
        r"\beta": "β",
        r"\cdot": "·",
        r"\times": "×",
        r"\infty": "∞",
        r"\pm": "±",
        r"\leq": "≤",
        r"\geq": "≥",
        r"\neq": "≠",
        r"\sum": "Σ",
        r"\int": "∫",
        r"\Delta": "Δ",
        r"\lambda": "λ",
        r"\mu": "μ",
        r"\sigma": "σ",
    }
    for command, symbol in symbols.items():
        text = text.replace(command, symbol)
    text = re.sub(r"\\[a-zA-Z]+", "", text)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return " ".join(text.split()) or "?"


def _fix_2d_points(code: str) -> tuple[str, list[AppliedFix]]:
    """Give 2-D point literals a z of 0: in point arguments, lists of points, and the variables
    passed as points."""
    tree = ast.parse(code)
    source = _Source(code)
    fixes: list[AppliedFix] = []
    variables = _point_variables(tree)
    literals = [
        arg
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for arg in _point_literals(node, _call_name(node))
    ]
    literals += [value for node in ast.walk(tree) if (value := _assigned_point(node, variables)) is not None]
    for arg in {id(arg): arg for arg in literals}.values():
        literal = source.text(arg)
        closing = literal[-1]
        source.replace(arg, literal[:-1].rstrip().rstrip(",") + ", 0" + closing)
        fixes.append(AppliedFix("3d-point", "2-D point given a z coordinate of 0", arg.lineno))
    fixes.sort(key=lambda fix: fix.line or 0)
    return (source.result(), fixes) if fixes else (code, [])


def _point_literals(node: ast.Call, name: str | None) -> list[ast.expr]:
    candidates: list[ast.expr] = []
    if name == "array" and node.args:
        candidates = [node.args[0]]
    elif name in POINT_CALLS:
        candidates = [*node.args, *(keyword.value for keyword in node.keywords)]
    if name in POINT_LIST_CALLS:
        for arg in node.args:
            if (
                isinstance(arg, (ast.List, ast.Tuple))
                and arg.elts
                and all(_is_2d_literal(elt) for elt in arg.elts)
            ):
                candidates += arg.elts
    return [item for item in candidates if _is_2d_literal(item)]


def _is_2d_literal(item: ast.expr) -> bool:
    return (
        isinstance(item, (ast.List, ast.Tuple))
        and len(item.elts) == 2
        and not any(
            isinstance(elt, (ast.List, ast.Tuple, ast.Starred)) or not _is_number(elt) for elt in item.elts
        )
    )


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return not isinstance(node, ast.Constant) or isinstance(node.value, (int, float))


def _point_variables(tree: ast.Module) -> set[str]:
    """Names passed straight to a point argument (`Dot(p)`, `x.move_to(p)`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in POINT_CALLS:
            names |= {
                arg.id for arg in [*node.args, *(k.value for k in node.keywords)] if isinstance(arg, ast.Name)
            }
    return names


def _assigned_point(node: ast.AST, variables: set[str]) -> ast.expr | None:
    """The 2-D literal assigned to one of `variables` (`p = [1, 2]`, `p = np.array([1, 2])`)."""
    if (
        not isinstance(node, ast.Assign)
        or len(node.targets) != 1
        or not isinstance(node.targets[0], ast.Name)
    ):
        return None
    if node.targets[0].id not in variables:
        return None
    value = node.value
    if isinstance(value, ast.Call) and _call_name(value) == "array" and value.args:
        value = value.args[0]
    return value if _is_2d_literal(value) else None
