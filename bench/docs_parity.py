"""Parity with manim on manim's own documentation examples.

    python bench/docs_parity.py [--jobs 2] [--limit N] [--match TEXT] [--shard I/N] [--json FILE]
    python bench/docs_parity.py --report FILE...     # one report from the --json files of shards

Extracts every `.. manim:: Scene` example from the docstrings of the installed manim package (at
run time: nothing of manim's is stored here), renders each with `python -m manim render -ql` and
with `manimagent render FILE --scene Scene --json` (no --format, as a user would), and compares:
did each render, and is the output of the same kind (video or image). Prints the counts and every
difference. manimagent runs with a throwaway MANIMAGENT_HOME and no LLM.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. manim::\s+(?P<scene>[A-Za-z_]\w*)\s*$")
OPTION = re.compile(r"^\s*:[\w-]+:")
TIMEOUT = 240.0


@dataclass
class Example:
    scene: str
    source: str  # module path inside manim
    code: str


@dataclass
class Outcome:
    scene: str
    source: str
    manim: str  # video | image | failed
    manimagent: str
    manim_seconds: float
    manimagent_seconds: float
    manim_error: str = ""
    manimagent_error: str = ""

    @property
    def parity(self) -> bool:
        return self.manim == "failed" or self.manim == self.manimagent


# --- extracting the examples ------------------------------------------------------------------


def manim_package() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("manim")
    if spec is None or spec.origin is None:
        raise SystemExit("manim is not installed in this interpreter")
    return Path(spec.origin).parent


def docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [
        tree,
        *(
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ),
    ]
    return [text for node in nodes if (text := ast.get_docstring(node))]


def examples_in(text: str, source: str) -> list[Example]:
    lines = text.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if match:
            code = _from_doctest(_block_after(lines, index, len(match["indent"])))
            if code.strip():
                prefix = (
                    "" if "from manim import *" in code else "from manim import *\n\n"
                )  # as manim's directive does
                found.append(Example(match["scene"], source, prefix + code))
    return found


def _block_after(lines: list[str], start: int, indent: int) -> str:
    """The directive's body: the indented lines after it, options left out, dedented."""
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        if not body and (not line.strip() or OPTION.match(line)):
            continue
        body.append(line)
    width = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    return "\n".join(line[width:] for line in body).rstrip() + "\n"


def _from_doctest(code: str) -> str:
    """A doctest-style body (`>>> ` and `... ` lines, outputs between) as plain code."""
    if not code.lstrip().startswith(">>>"):
        return code
    kept = [
        line[4:] for line in code.splitlines() if line.startswith((">>> ", "... ")) or line in (">>>", "...")
    ]
    return "\n".join(kept) + "\n"


def all_examples() -> list[Example]:
    package = manim_package()
    examples: list[Example] = []
    for path in sorted(package.rglob("*.py")):
        relative = str(path.relative_to(package.parent))
        for text in docstrings(path):
            examples += examples_in(text, relative)
    return examples


# --- rendering both ways ----------------------------------------------------------------------


def render_with_manim(file: Path, scene: str, work: Path) -> tuple[str, float, str]:
    media = work / "manim-media"
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "manim",
                "render",
                "-ql",
                "--disable_caching",
                "--media_dir",
                str(media),
                str(file),
                scene,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=work,
        )
    except subprocess.TimeoutExpired:
        return "failed", TIMEOUT, "timeout"
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        return "failed", elapsed, _last_error(done.stdout + done.stderr)
    if any(path.stem == scene for path in media.rglob("*.mp4") if "partial_movie_files" not in path.parts):
        return "video", elapsed, ""
    if any(path.stem == scene or path.stem.startswith(f"{scene}_ManimCE") for path in media.rglob("*.png")):
        return "image", elapsed, ""
    return "failed", elapsed, "no output file"


def render_with_manimagent(file: Path, scene: str, work: Path, home: Path) -> tuple[str, float, str]:
    env = {**os.environ, "MANIMAGENT_HOME": str(home), "NO_COLOR": "1"}
    for name in list(env):
        if name.endswith("_API_KEY"):
            env.pop(name)  # no LLM: what manimagent does on its own
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "manimagent", "render", str(file), "--scene", scene, "--json"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT + 60,
            cwd=work,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return "failed", TIMEOUT + 60, "timeout"
    elapsed = time.perf_counter() - started
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError:
        return "failed", elapsed, _last_error(done.stderr) or "no JSON on stdout"
    if not doc.get("success"):
        return "failed", elapsed, str(doc.get("error"))[:300]
    kinds = [item["kind"] for item in doc.get("scene_outputs", [])]
    return ("image" if kinds == ["image"] else "video"), elapsed, ""


def _last_error(text: str) -> str:
    lines = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s*[A-Za-z_][\w.]*(Error|Exception)\b", line)
    ]
    return (lines[-1] if lines else (text.strip().splitlines() or [""])[-1])[:300]


def compare(example: Example, index: int, root: Path, home: Path) -> Outcome:
    work = root / f"{index:04d}-{example.scene}"
    work.mkdir(parents=True)
    file = work / f"{example.scene.lower()}_example.py"
    file.write_text(example.code, encoding="utf-8")
    manim, manim_seconds, manim_error = render_with_manim(file, example.scene, work)
    agent, agent_seconds, agent_error = render_with_manimagent(file, example.scene, work, home)
    return Outcome(
        example.scene, example.source, manim, agent, manim_seconds, agent_seconds, manim_error, agent_error
    )


# --- the report ---------------------------------------------------------------------------------


def report(outcomes: list[Outcome], total_seconds: float) -> str:
    rendered = [o for o in outcomes if o.manim != "failed"]
    same = [o for o in rendered if o.manimagent == o.manim]
    regressions = [o for o in rendered if o.manimagent != o.manim]
    recoveries = [o for o in outcomes if o.manim == "failed" and o.manimagent != "failed"]
    kinds = {kind: sum(o.manim == kind for o in outcomes) for kind in ("video", "image")}
    both_failed = sum(o.manim == "failed" and o.manimagent == "failed" for o in outcomes)
    lines = [
        f"examples extracted:                   {len(outcomes)}",
        f"rendered by `manim render -ql`:       {len(rendered)}"
        f" ({kinds['video']} videos, {kinds['image']} images)",
        f"rendered by manimagent, same kind:    {len(same)} of those {len(rendered)}",
        f"regressions (manim yes, manimagent no or other kind): {len(regressions)}",
        f"recoveries (manim no, manimagent yes): {len(recoveries)}",
        f"manim failed, manimagent failed too:  {both_failed}",
        f"time: {total_seconds / 60:.1f} min",
    ]
    for o in regressions:
        lines.append(
            f"  REGRESSION {o.scene} ({o.source}): manim {o.manim}, manimagent {o.manimagent}:"
            f" {o.manimagent_error}"
        )
    for o in recoveries:
        lines.append(f"  recovered  {o.scene} ({o.source}): manim failed ({o.manim_error})")
    return "\n".join(lines)


def recovered(roots: list[str]) -> list[Outcome]:
    """Outcomes read back from the work folders of stopped runs: manim's media folder, and
    manimagent's store (its scripts are named after the files); an example counts once manimagent
    has finished with it (it renders second)."""
    import sqlite3

    by_source = {f"{example.scene.lower()}_example.py": example for example in all_examples()}
    outcomes: dict[str, Outcome] = {}
    for root in map(Path, roots):
        db = sqlite3.connect(root / "home" / "manimagent.db")
        rows = db.execute(
            "SELECT s.prompt, e.status, e.outputs, e.error FROM script s"
            " JOIN execution e ON e.script_id = s.id ORDER BY e.attempt_number"
        ).fetchall()
        finished = {
            prompt.removeprefix("rendered from "): (status, json.loads(outputs), error or "")
            for prompt, status, outputs, error in rows
            if status in ("succeeded", "failed")
        }
        for work in sorted(path for path in root.iterdir() if path.is_dir() and path.name != "home"):
            scene = work.name.split("-", 1)[1]
            file = f"{scene.lower()}_example.py"
            if file not in finished:
                continue
            status, outputs, error = finished[file]
            agent = (
                "failed"
                if status != "succeeded"
                else ("image" if [Path(p).suffix for p in outputs] == [".png"] else "video")
            )
            example = by_source.get(file)
            outcomes[work.name + str(root)] = Outcome(
                scene,
                example.source if example else "?",
                _manim_kind(work / "manim-media", scene),
                agent,
                0.0,
                0.0,
                "",
                error,
            )
    return list(outcomes.values())


def _manim_kind(media: Path, scene: str) -> str:
    if any(path.stem == scene for path in media.rglob("*.mp4") if "partial_movie_files" not in path.parts):
        return "video"
    if any(path.stem == scene or path.stem.startswith(f"{scene}_ManimCE") for path in media.rglob("*.png")):
        return "image"
    return "failed"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N examples")
    parser.add_argument("--match", default="", help="only examples whose scene name contains TEXT")
    parser.add_argument("--start", type=int, default=0, help="skip the first K examples (of the shard)")
    parser.add_argument(
        "--recover",
        nargs="+",
        metavar="DIR",
        help="print one report from the work folders of runs that were stopped",
    )
    parser.add_argument(
        "--shard",
        default="1/1",
        help="I/N: only every N-th example, starting at the I-th (run shards side by side)",
    )
    parser.add_argument("--json", dest="json_path", help="also write every outcome to this file")
    parser.add_argument(
        "--report", nargs="+", metavar="FILE", help="print one report from these --json files and exit"
    )
    args = parser.parse_args()
    if args.report:
        outcomes = [
            Outcome(**{k: v for k, v in row.items() if k != "parity"})
            for path in args.report
            for row in json.loads(Path(path).read_text())
        ]
        print(report(outcomes, sum(o.manim_seconds + o.manimagent_seconds for o in outcomes)))
        return
    if args.recover:
        print(report(recovered(args.recover), 0.0))
        return
    index, count = (int(part) for part in args.shard.split("/"))
    examples = [example for example in all_examples() if args.match.lower() in example.scene.lower()][
        index - 1 :: count
    ]
    examples = examples[args.start :]
    if args.limit:
        examples = examples[: args.limit]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docs-parity-") as tmp:
        root = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            outcomes = list(
                pool.map(lambda item: compare(item[1], item[0], root, root / "home"), enumerate(examples))
            )
    print(report(outcomes, time.perf_counter() - started))
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps([{**asdict(o), "parity": o.parity} for o in outcomes], indent=1)
        )


if __name__ == "__main__":
    main()
