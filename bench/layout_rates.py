"""How often the layout check is wrong: false alarms on manim's own examples, detection on broken layouts.

    PYTHONPATH=src python bench/layout_rates.py [--jobs 2] [--limit N] [--show]

- False alarms: every `.. manim::` example in the installed manim package's docstrings (extracted
  now, never stored), rendered with `-ql --format none` by the local child program with the hook.
  A rendered example with any finding is a false alarm (manim's examples are laid out by hand).
- Detection: the broken layouts below (text past an edge, labels on top of each other, ...); a case
  is detected when a finding of the expected kind is reported.
Both rates are printed, with the examples that were flagged (`--show` prints their findings).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from manimagent.render import child
from manimagent.render.layout import FINDINGS_FILE, HOOK_FILE, read_findings
from manimagent.render.layout import findings_from_rows as parse_rows

TIMEOUT = 180.0
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. manim:: (?P<name>\w+)[^\n]*\n", re.MULTILINE)


@dataclass
class Case:
    name: str  # the scene class
    code: str
    expected: str | None = None  # off_frame | overlap; None: a good layout
    findings: list = field(default_factory=list)
    rendered: bool = False
    error: str = ""


# --- manim's own examples ------------------------------------------------------------------------


def manim_examples() -> list[Case]:
    """The `.. manim::` blocks of the installed manim's docstrings, one Case per scene class."""
    import manim

    root = Path(manim.__file__).parent
    cases: dict[str, Case] = {}
    for path in sorted(root.rglob("*.py")):
        for doc in _docstrings(path):
            for name, code in _directive_blocks(doc):
                cases.setdefault(name, Case(name, "from manim import *\n\n" + code))
    return list(cases.values())


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    nodes = [
        tree,
        *(
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ),
    ]
    return [doc for node in nodes if (doc := ast.get_docstring(node, clean=True))]


def _directive_blocks(doc: str) -> list[tuple[str, str]]:
    blocks = []
    for match in DIRECTIVE.finditer(doc):
        base = len(match["indent"].expandtabs())
        lines = doc[match.end() :].splitlines()
        body: list[str] = []
        for line in lines:
            stripped = line.strip()
            indent = len(line) - len(line.lstrip())
            if stripped and indent <= base:
                break
            if not body and (stripped.startswith(":") or not stripped):
                continue  # the directive's options
            body.append(line)
        code = textwrap.dedent("\n".join(body)).strip()
        if f"class {match['name']}" in code:
            blocks.append((match["name"], code + "\n"))
    return blocks


# --- broken layouts ----------------------------------------------------------------------------------

_HEAD = "from manim import *\n\n\nclass {name}({base}):\n    def construct(self):\n"

BROKEN: list[tuple[str, str, str]] = [
    # (name, expected kind, construct body)
    (
        "LongTitle",
        "off_frame",
        'self.play(Write(Text("A very long title that nobody wrapped to fit the frame").to_edge(UP)))',
    ),
    ("TitleShiftedRight", "off_frame", 'self.play(FadeIn(Text("Results").to_edge(UP).shift(RIGHT * 6.5)))'),
    ("TextBelow", "off_frame", 'self.add(Text("footnote").shift(DOWN * 4.1))\n        self.wait()'),
    ("TextAbove", "off_frame", 'self.play(Write(Text("Header").move_to(UP * 4)))'),
    ("TextLeft", "off_frame", 'self.play(Write(Text("Left label").move_to(LEFT * 7)))'),
    ("FormulaRight", "off_frame", 'self.play(Write(MathTex(r"e^{i\\pi} + 1 = 0").move_to(RIGHT * 6.5)))'),
    (
        "HugeFormula",
        "off_frame",
        'self.play(Write(MathTex(r"\\int_0^1 x^2 \\, dx = \\frac{1}{3}").scale(6)))',
    ),
    ("BigSquare", "off_frame", "self.play(Create(Square(side_length=9)))"),
    ("CircleAtEdge", "off_frame", "self.play(Create(Circle(radius=1).move_to(RIGHT * 6.8)))"),
    (
        "WideAxes",
        "off_frame",
        "self.play(Create(Axes(x_range=[0, 10], y_range=[0, 5], x_length=16, y_length=5)))",
    ),
    (
        "TallBarStack",
        "off_frame",
        (
            "bars = VGroup(*[Rectangle(width=1, height=h) for h in [1, 3, 5, 9]])"
            ".arrange(RIGHT, aligned_edge=DOWN)\n        "
            "self.play(Create(bars))"
        ),
    ),
    (
        "LongBulletList",
        "off_frame",
        (
            'items = VGroup(*[Text(f"Point number {i}") for i in range(1, 15)]).arrange(DOWN)\n        '
            "self.play(Write(items))"
        ),
    ),
    (
        "RowOfCircles",
        "off_frame",
        (
            "row = VGroup(*[Circle(radius=0.6) for _ in range(12)]).arrange(RIGHT)\n        "
            "self.play(Create(row))"
        ),
    ),
    (
        "TableTooWide",
        "off_frame",
        (
            'table = Table([["alpha", "beta", "gamma", "delta", "epsilon"],'
            ' ["1", "2", "3", "4", "5"]])\n        '
            "self.play(Create(table))"
        ),
    ),
    (
        "ShiftedAfterPlay",
        "off_frame",
        (
            'label = Text("moving label")\n        '
            "self.add(label)\n        "
            "self.play(label.animate.shift(RIGHT * 6))\n        "
            "self.wait()"
        ),
    ),
    (
        "ScaledUpGroup",
        "off_frame",
        (
            'group = VGroup(Square(), Text("inside")).arrange(RIGHT)\n        '
            "self.play(FadeIn(group))\n        "
            "self.play(group.animate.scale(4))"
        ),
    ),
    ("DotOffCorner", "off_frame", "self.play(FadeIn(Dot(point=[7.5, 4.5, 0], radius=0.3)))"),
    ("ArrowPastEdge", "off_frame", "self.play(GrowArrow(Arrow(LEFT * 2, RIGHT * 9)))"),
    (
        "GroupShiftedRight",
        "off_frame",
        (
            "boxes = VGroup(*[Square() for _ in range(3)]).arrange(RIGHT).shift(RIGHT * 5)\n        "
            "self.play(Create(boxes))"
        ),
    ),
    (
        "StillCaption",
        "off_frame",
        'self.add(Text("A caption placed far too low on the screen").to_edge(DOWN).shift(DOWN))',
    ),
    (
        "TitleOnFormula",
        "overlap",
        (
            'title = Text("Pythagoras")\n        '
            'formula = MathTex("a^2 + b^2 = c^2")\n        '
            "self.play(Write(title), Write(formula))"
        ),
    ),
    (
        "TwoLabelsSamePlace",
        "overlap",
        (
            'a = Text("first").move_to(UP)\n        '
            'b = Text("second").move_to(UP + RIGHT * 0.3)\n        '
            "self.play(FadeIn(a), FadeIn(b))"
        ),
    ),
    (
        "NextStepNotCleared",
        "overlap",
        (
            'step1 = Text("Step 1: expand")\n        '
            "self.play(Write(step1))\n        "
            'step2 = Text("Step 2: simplify")\n        '
            "self.play(Write(step2))"
        ),
    ),
    (
        "NegativeBuff",
        "overlap",
        (
            'x = MathTex("x^2")\n        '
            'y = MathTex("+ 2x").next_to(x, RIGHT, buff=-0.5)\n        '
            "self.play(Write(x), Write(y))"
        ),
    ),
    (
        "LabelOnLabel",
        "overlap",
        (
            "dot = Dot()\n        "
            'l1 = Text("A", font_size=36).next_to(dot, UP, buff=0.1)\n        '
            'l2 = Text("B", font_size=36).next_to(dot, UP, buff=0.15)\n        '
            "self.play(FadeIn(dot, l1, l2))"
        ),
    ),
    (
        "TexStacked",
        "overlap",
        (
            'eq1 = MathTex("y = mx + b")\n        '
            'eq2 = MathTex("y = 2x + 1").shift(DOWN * 0.2)\n        '
            "self.play(Write(eq1))\n        "
            "self.play(Write(eq2))"
        ),
    ),
    (
        "CaptionOnTitle",
        "overlap",
        (
            'title = Title("Derivatives")\n        '
            'caption = Text("rate of change", font_size=30).move_to(title)\n        '
            "self.play(Write(title), FadeIn(caption))"
        ),
    ),
    (
        "ParagraphOnText",
        "overlap",
        (
            'p = Paragraph("line one", "line two", "line three")\n        '
            't = Text("note").move_to(p.get_center())\n        '
            "self.play(FadeIn(p), FadeIn(t))"
        ),
    ),
    (
        "MovedOntoOther",
        "overlap",
        (
            'a = Text("left").shift(LEFT * 2)\n        '
            'b = Text("right").shift(RIGHT * 2)\n        '
            "self.play(FadeIn(a, b))\n        "
            "self.play(b.animate.move_to(a))"
        ),
    ),
    (
        "AxisLabelOnNumber",
        "overlap",
        (
            'n = MathTex("10").move_to(RIGHT * 2)\n        '
            'label = MathTex("x").move_to(RIGHT * 2.1)\n        '
            "self.add(n, label)\n        "
            "self.wait()"
        ),
    ),
    (
        "MarkupOnMarkup",
        "overlap",
        (
            'a = MarkupText("<b>bold</b> words")\n        '
            'b = MarkupText("<i>more</i> words").shift(UP * 0.1)\n        '
            "self.play(Write(a), Write(b))"
        ),
    ),
    (
        "DecimalOnText",
        "overlap",
        (
            "value = DecimalNumber(3.14159, num_decimal_places=3)\n        "
            'label = Text("pi").move_to(value)\n        '
            "self.play(FadeIn(value), FadeIn(label))"
        ),
    ),
]

GOOD: list[tuple[str, str]] = [
    (
        "GoodTitleAndFormula",
        (
            'title = Text("Pythagoras").to_edge(UP)\n        '
            'formula = MathTex("a^2 + b^2 = c^2")\n        '
            "self.play(Write(title), Write(formula))"
        ),
    ),
    (
        "GoodSteps",
        (
            'a = Text("Step 1")\n        '
            "self.play(Write(a))\n        "
            'b = Text("Step 2")\n        '
            "self.play(ReplacementTransform(a, b))"
        ),
    ),
    (
        "GoodLabels",
        (
            "dot = Dot()\n        "
            'self.play(FadeIn(dot, Text("A").next_to(dot, UP), Text("B").next_to(dot, DOWN)))'
        ),
    ),
    (
        "GoodList",
        (
            'items = VGroup(*[Text(f"Point {i}", font_size=30) for i in range(1, 6)]).arrange(DOWN)\n        '
            "self.play(Write(items))"
        ),
    ),
    (
        "GoodExit",
        "sq = Square()\n        self.play(Create(sq))\n        self.play(FadeOut(sq, shift=RIGHT * 3))",
    ),
]


def broken_cases() -> list[Case]:
    cases = []
    for name, kind, body in BROKEN:
        base = "MovingCameraScene" if "camera.frame" in body else "Scene"
        cases.append(Case(name, _HEAD.format(name=name, base=base) + "        " + body + "\n", expected=kind))
    return cases


def good_cases() -> list[Case]:
    return [
        Case(name, _HEAD.format(name=name, base="Scene") + "        " + body + "\n") for name, body in GOOD
    ]


# --- rendering ---------------------------------------------------------------------------------------


def render_with_hook(case: Case, python: str = sys.executable) -> Case:
    """Run the local child program with the hook on the case; fills `rendered` and `findings`."""
    job = Path(tempfile.mkdtemp(prefix="layout-bench-"))
    try:
        (job / "scene.py").write_text(case.code, encoding="utf-8")
        (job / HOOK_FILE).write_bytes(resources.files("manimagent.render").joinpath(HOOK_FILE).read_bytes())
        args = [
            "render",
            "-ql",
            "--format",
            "none",
            "--disable_caching",
            "--silent",
            "--media_dir",
            "media",
            "scene.py",
            case.name,
        ]
        try:
            done = subprocess.run(
                child.command(python, args), cwd=job, capture_output=True, text=True, timeout=TIMEOUT
            )
            case.rendered = done.returncode == 0
            case.error = (
                ""
                if case.rendered
                else (done.stderr or done.stdout).strip().splitlines()[-1:][0]
                if (done.stderr or done.stdout).strip()
                else "failed"
            )
        except subprocess.TimeoutExpired:
            case.error = "timeout"
        case.findings = read_findings(job / FINDINGS_FILE)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    return case


def run_all(cases: list[Case], jobs: int) -> list[Case]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(render_with_hook, cases))


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f}%" if whole else "0/0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N manim examples")
    parser.add_argument("--only", default="", help="comma-separated example names (a quick re-check)")
    parser.add_argument(
        "--slice", default="", help="START:STOP of the manim examples (split a run over processes)"
    )
    parser.add_argument(
        "--combine", nargs="+", metavar="JSON", help="only print the rates of earlier --json results"
    )
    parser.add_argument("--show", action="store_true", help="print every finding")
    parser.add_argument("--json", dest="json_path", help="also write the per-case results here")
    options = parser.parse_args(argv)

    if options.combine:
        done = [
            Case(row["name"], "", row["expected"], parse_rows(row["findings"]), row["rendered"], row["error"])
            for path in options.combine
            for row in json.loads(Path(path).read_text())
        ]
        names = {name for name, _, _ in BROKEN} | {name for name, _ in GOOD}
        docs = [case for case in done if case.name not in names]
        broken = [case for case in done if case.expected is not None]
        good = [case for case in done if case.expected is None and case.name in names]
        return report(docs, broken, good, options.show)
    wanted = set(filter(None, options.only.split(",")))
    examples = [case for case in manim_examples() if not wanted or case.name in wanted][
        : options.limit or None
    ]
    start, _, stop = options.slice.partition(":")
    examples = examples[int(start or 0) : int(stop) if stop else None]
    synthetic = broken_cases() + good_cases() if not options.slice or not start or start == "0" else []
    done = run_all(examples + synthetic, options.jobs)
    docs = done[: len(examples)]
    broken = [case for case in done if case.expected is not None]
    good = [case for case in done[len(examples) :] if case.expected is None]
    if options.json_path:
        rows = [
            {
                "name": c.name,
                "expected": c.expected,
                "rendered": c.rendered,
                "error": c.error,
                "findings": [f.to_dict() for f in c.findings],
            }
            for c in done
        ]
        Path(options.json_path).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return report(docs, broken, good, options.show)


def report(docs: list[Case], broken: list[Case], good: list[Case], show: bool) -> int:
    rendered = [case for case in docs if case.rendered]
    alarms = [case for case in rendered if case.findings]
    detected = [case for case in broken if any(f.kind == case.expected for f in case.findings)]
    good_alarms = [case for case in good if case.findings]
    print(f"manim examples: {len(docs)} extracted, {len(rendered)} rendered")
    print(f"false alarms on manim's examples: {_share(len(alarms), len(rendered))}")
    print(f"detection on broken layouts: {_share(len(detected), len(broken))}")
    print(f"false alarms on the good synthetic layouts: {_share(len(good_alarms), len(good))}")
    for case in alarms + good_alarms:
        print(
            f"  flagged {case.name}: " + "; ".join(f.describe() for f in case.findings[: None if show else 2])
        )
    for case in broken:
        if case not in detected:
            print(f"  missed {case.name} ({case.expected}): {case.error or 'no finding of that kind'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
