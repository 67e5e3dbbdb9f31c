"""Preparing code for a render: check it, apply the deterministic fixes, choose the scenes."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from manimagent.errors import InvalidScript
from manimagent.render.base import RenderFailure
from manimagent.scriptcheck.check import CheckReport, check_script, select_scenes
from manimagent.scriptcheck.findings import Finding
from manimagent.scriptcheck.fixes import AppliedFix, add_star_import, fix_before_render
from manimagent.scriptcheck.manim_api import default_manim_api
from manimagent.scriptcheck.speech import fix_missing_speech_service
from manimagent.scriptcheck.text_parts import join_text_parts


@dataclass
class Prepared:
    code: str  # after the fixes: what is rendered
    scenes: list[str]
    fixes: list[AppliedFix] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    refusal: RenderFailure | None = None  # set when the code must not be rendered


def prepare_code(
    code: str, manim_names: frozenset[str], *, has_latex: bool, wanted: list[str] | None, strict: bool
) -> Prepared:
    """Check and fix `code`. `strict` (a user's own file): not a script raises InvalidScript;
    otherwise (an LLM's repair) it becomes a refusal the repair loop can answer."""
    try:
        report = check_script(code, manim_names)
    except InvalidScript as exc:
        if strict:
            raise
        line = exc.details.get("line") if isinstance(exc.details, dict) else None
        return Prepared(code, [], refusal=RenderFailure("InvalidScript", exc.message, line))
    if not strict and wanted and not set(wanted) <= set(report.scenes):
        wanted = None  # a repair renamed the scenes: render what it wrote
    scenes = select_scenes(report, wanted)
    fixes: list[AppliedFix] = []
    undefined = _undefined(report)
    if undefined & manim_names and not _imports_manim_star(code):
        code, fixes = add_star_import(code)
        report = check_script(code, manim_names)
        undefined = _undefined(report)
    api = default_manim_api() if manim_names else None  # the same cached document the names came from
    fixed, more = fix_before_render(code, undefined, has_latex, api)
    for name, rule in (("speech-service", fix_missing_speech_service), ("text-parts", join_text_parts)):
        fixed, found = rule(fixed)
        more += [AppliedFix(name, description, line) for description, line in found]
    fixes += more
    if more:
        report = check_script(fixed, manim_names)
    refusal = None
    if report.policy_errors:
        first = report.policy_errors[0]
        refusal = RenderFailure(
            "PolicyViolation", "; ".join(item.describe() for item in report.policy_errors), first.line
        )
    return Prepared(fixed, scenes, fixes, report.findings, refusal)


def _undefined(report: CheckReport) -> set[str]:
    return {
        finding.message.split(" ", 1)[0] for finding in report.findings if finding.code == "undefined-name"
    }


def _imports_manim_star(code: str) -> bool:
    tree = ast.parse(code)
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "manim" and any(a.name == "*" for a in node.names)
        for node in ast.walk(tree)
    )
