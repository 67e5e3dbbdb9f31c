"""Imports of modules this Python does not have (manim plugins, optional extras): a warning
that names the install command, found without importing anything (importlib's finder only)."""

from __future__ import annotations

import ast
import importlib.util
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
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
