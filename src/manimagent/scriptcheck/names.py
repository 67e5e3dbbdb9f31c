"""Names a script uses that neither it, nor the installed manim, nor Python defines.

The installed manim's exported names come from its API, read once per manim version in a child
process (manim is never imported here) and cached under the home folder (manim_api.py).
"""

from __future__ import annotations

import ast
import builtins
import difflib
import functools
import sys
from pathlib import Path

from manimagent.scriptcheck.findings import Finding
from manimagent.scriptcheck.manim_api import load_manim_api, manim_version

__all__ = ["bound_names", "manim_names", "manim_version", "undefined_name_findings"]

# Names LLMs reach for that manim does not define, with what to use instead.
KNOWN_REPLACEMENTS: dict[str, str] = {
    "ShowCreation": "Create",
    "TextMobject": "Tex",
    "TexMobject": "MathTex",
    "ParametricSurface": "Surface",
    "GraphScene": "Scene with Axes",
    "CYAN": "TEAL",
    "VIOLET": "PURPLE",
    "BROWN": "DARK_BROWN",
    "FRAME_WIDTH": "config.frame_width",
    "FRAME_HEIGHT": "config.frame_height",
    "Color": "ManimColor",
}


@functools.lru_cache(maxsize=8)
def manim_names(cache_dir: Path, python: str = sys.executable) -> frozenset[str]:
    """Everything `from manim import *` defines, for the installed manim version (from its cached API)."""
    api = load_manim_api(cache_dir, python)
    return api.names if api else frozenset()


class _Bindings(ast.NodeVisitor):
    """Every name the script binds anywhere (scope-insensitive: a cheap, safe over-approximation)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.star_imports: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.names.add(node.arg)

    def _named(self, node: ast.AST) -> None:
        self.names.add(node.name)  # type: ignore[attr-defined]
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _named

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.names.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append(node.module or "")
            else:
                self.names.add(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        self.names.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.names.update(node.names)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)


def bound_names(tree: ast.Module) -> set[str]:
    """Every name the script binds (its classes, functions, variables, imports)."""
    bindings = _Bindings()
    bindings.visit(tree)
    return bindings.names


def undefined_name_findings(tree: ast.Module, manim_defined: frozenset[str]) -> list[Finding]:
    bindings = _Bindings()
    bindings.visit(tree)
    if any(module != "manim" for module in bindings.star_imports):
        return []  # another star import: we cannot know what it defines
    known = bindings.names | set(dir(builtins)) | {"__file__", "__name__"}
    if "manim" in bindings.star_imports:
        if not manim_defined:
            return []  # manim's names unknown (not installed here): say nothing rather than guess
        known |= manim_defined
    findings: list[Finding] = []
    reported: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in known
            and node.id not in reported
        ):
            reported.add(node.id)
            findings.append(_undefined(node, known))
    return sorted(findings, key=lambda finding: finding.line or 0)


def _undefined(node: ast.Name, known: set[str]) -> Finding:
    suggestion = KNOWN_REPLACEMENTS.get(node.id)
    if suggestion is None:
        close = difflib.get_close_matches(node.id, known, n=1, cutoff=0.75)
        suggestion = close[0] if close else None
    return Finding(
        "error",
        "undefined-name",
        f"{node.id} is not defined by the script, manim or Python",
        node.lineno,
        suggestion,
    )
