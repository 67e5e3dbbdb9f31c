"""`check_script`: everything we can say about a script without running it."""

from __future__ import annotations

from dataclasses import dataclass, field

from manimagent.errors import InvalidScript
from manimagent.scriptcheck.findings import Finding
from manimagent.scriptcheck.names import undefined_name_findings
from manimagent.scriptcheck.plugins import missing_module_findings
from manimagent.scriptcheck.policy import policy_findings
from manimagent.scriptcheck.scenes import find_scenes
from manimagent.scriptcheck.source import parse_script


@dataclass
class CheckReport:
    scenes: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]

    @property
    def policy_errors(self) -> list[Finding]:
        return [finding for finding in self.errors if finding.code.startswith("forbidden")]


def check_script(code: str, manim_defined: frozenset[str], label: str = "the script") -> CheckReport:
    """Parse, find scenes, apply the policy table and the undefined-name check.

    Raises InvalidScript for what is not a Manim script at all (syntax error, no Scene).
    """
    tree = parse_script(code, label)
    scenes = find_scenes(tree)
    if not scenes:
        raise InvalidScript(
            f"{label} defines no Scene class",
            hint="A Manim script needs a class deriving from Scene (or ThreeDScene, MovingCameraScene, ...)",
        )
    return CheckReport(
        scenes=scenes,
        findings=policy_findings(tree)
        + undefined_name_findings(tree, manim_defined)
        + missing_module_findings(tree),
    )


def select_scenes(report: CheckReport, wanted: list[str] | None, label: str = "the script") -> list[str]:
    """The scenes to render, in file order: all of them, or the ones asked for."""
    if not wanted:
        return list(report.scenes)
    unknown = [name for name in wanted if name not in report.scenes]
    if unknown:
        raise InvalidScript(
            f"{label} has no scene {', '.join(unknown)}",
            hint=f"Its scenes are: {', '.join(report.scenes)}",
        )
    return [name for name in report.scenes if name in wanted]
