"""Imports of modules this Python does not have (manim plugins, optional extras): a warning
that names the install command, found without importing anything (importlib's finder only)."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys

from manimagent.scriptcheck.findings import Finding
from manimagent.scriptcheck.renames import PLUGIN_INSTALL


def missing_module_findings(tree: ast.Module) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for module in _imported(node):
            top = module.split(".")[0]
            if top in seen or top in sys.stdlib_module_names or _installed(top):
                continue
            seen.add(top)
            hint = PLUGIN_INSTALL.get(top, f"pip install {top.replace('_', '-')}")
            findings.append(
                Finding(
                    "warning",
                    "missing-module",
                    f"{top} is not installed here: install it with `{hint}`",
                    node.lineno,
                    hint,
                )
            )
    return findings


def install_command(module: str) -> str | None:
    """The install command of a known plugin or extra (`manim_slides` -> `pip install manim-slides`)."""
    return PLUGIN_INSTALL.get(module.split(".")[0])


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0 and node.module:
        return [node.module]
    return []


def _installed(module: str) -> bool:
    return importable(module)


def importable(top: str) -> bool:
    """Whether a render could import the top-level module `top`: this Python's finders, with the
    current directory left out (a render runs in its own job folder, so a `src/` or `utils/` folder
    beside the command is not there)."""
    if top in sys.builtin_module_names:
        return True
    here = {"", os.getcwd()}
    path = [entry for entry in sys.path if entry not in here]
    for finder in sys.meta_path:
        try:
            if finder is importlib.machinery.PathFinder:
                found = importlib.machinery.PathFinder.find_spec(top, path)
            else:
                found = finder.find_spec(top, None)
        except (ImportError, ValueError, AttributeError):
            continue
        if found is not None:
            return True
    return False
