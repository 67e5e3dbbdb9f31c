"""Render a dev set of Manim scripts raw and through `manimagent render`, and classify the failures.

    python bench/quality_devset.py ITEMS [--mode raw|manimagent|both] [--jobs 2] [--timeout 180]
                                         [--max-attempts 4] [--results OUT.jsonl [--redo MODE]] [--limit N]

ITEMS is a JSONL file of `{"id", "code", "scene"?, "source"?}` or a folder of `.py` files (the
source is then the subfolder's name). Nothing of the data is kept here: the script only renders.

`raw` runs `python -m manim render -ql` on each item. `manimagent` runs `manimagent render -s SCENE
--max-attempts N` in one fresh MANIMAGENT_HOME whose only LLM provider points at a closed loopback
port, so every repair the LLM would make fails at once: what renders, renders with the
deterministic fixes alone. Prints, per source, how many each renders, then the failure classes
before and after, as Markdown tables (docs/quality.md holds a copy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

PYTHON = sys.executable
VENDOR_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
    "AZURE_OPENAI_API_KEY",
)
# A branch without the still-scene parity fix refuses an MP4 of a scene with no animation; manim
# gives a PNG there. The bench then asks for the PNG, as the parity fix does by default.
STILL_SCENE = "has no play calls"
_ERROR_LINE = re.compile(r"^[\s│|]*((?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt)\w*)): ?(.*?)[\s│|]*$")


@dataclass
class Item:
    id: str
    code: str
    scene: str | None = None
    source: str = "items"


@dataclass
class Outcome:
    id: str
    source: str
    mode: str
    ok: bool
    error: str = ""
    error_class: str = ""
    seconds: float = 0.0
    fixes: str = ""


def load_items(path: Path) -> list[Item]:
    if path.is_dir():
        return [
            Item(str(file.relative_to(path)), file.read_text(encoding="utf-8"), None, file.parent.name)
            for file in sorted(path.rglob("*.py"))
        ]
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            items.append(Item(row["id"], row["code"], row.get("scene"), row.get("source", "items")))
    return items


def classify(error: str, code: str) -> str:
    """A failure's class, from its last exception line and the code (the table's rows)."""
    text = error.lower()
    rules = [
        ("timeout", lambda: "timeout" in text or "ran longer than" in text),
        ("no `from manim import *`", lambda: "nameerror" in text and "from manim import" not in code),
        (
            "plugin not installed (manim_physics, manim_voiceover, ...)",
            lambda: ("modulenotfounderror" in text or "importerror" in text) and "manim_" in text,
        ),
        (
            "import of a module not installed",
            lambda: "modulenotfounderror" in text or "no module named" in text,
        ),
        ("cannot import a name from manim", lambda: "importerror" in text and "cannot import name" in text),
        (
            "2-D point where manim wants 3-D",
            lambda: "broadcast" in text and ("(2,)" in text or "(1,2)" in text or "(2,2)" in text),
        ),
        (
            "keyword passed through to Mobject.__init__",
            lambda: "unexpected keyword" in text and "mobject.__init__" in text,
        ),
        ("unexpected keyword argument", lambda: "unexpected keyword" in text),
        (
            "colour in a form ManimColor refuses",
            lambda: "color" in text and ("manimcolor" in text or "invalid" in text or "not a valid" in text),
        ),
        ("name not defined", lambda: "nameerror" in text or "not defined by the script" in text),
        ("attribute manim does not have", lambda: "attributeerror" in text),
        ("LaTeX error", lambda: "latex" in text or "dvisvgm" in text),
        ("OpenGL-only API", lambda: "opengl" in text or "fix_in_frame" in text or "shader" in text),
        ("VGroup given a mobject that is not a VMobject", lambda: "submobjects of vgroup" in text),
        ("other TypeError", lambda: "typeerror" in text),
        ("other ValueError", lambda: "valueerror" in text),
        ("IndexError", lambda: "indexerror" in text),
        ("KeyError", lambda: "keyerror" in text),
        ("refused by the policy check", lambda: "policyviolation" in text or "forbidden" in text),
        (
            "not a script (syntax, no scene)",
            lambda: "syntaxerror" in text or "invalidscript" in text or "no scene" in text,
        ),
    ]
    return next((name for name, test in rules if test()), "other")


def last_exception(log: str) -> str:
    """The last `SomethingError: message` line of a log (manim prints Rich tracebacks)."""
    found = ""
    for line in log.splitlines():
        match = _ERROR_LINE.match(line)
        if match:
            found = f"{match.group(1)}: {match.group(3)}"
    return found or (log.strip().splitlines() or ["(no output)"])[-1][:300]


def render_raw(item: Item, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="devset-raw-") as folder:
        script = Path(folder, "scene.py")
        script.write_text(item.code, encoding="utf-8")
        command = [
            PYTHON,
            "-m",
            "manim",
            "render",
            "-ql",
            "--disable_caching",
            "--media_dir",
            str(Path(folder, "media")),
            str(script),
        ]
        command += [item.scene] if item.scene else ["-a"]
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, cwd=folder, capture_output=True, text=True, timeout=timeout, env=_clean_env()
            )
        except subprocess.TimeoutExpired:
            return Outcome(item.id, item.source, "raw", False, "TimeoutError", "timeout", timeout)
        seconds = time.monotonic() - started
        made = [
            path
            for path in Path(folder, "media").rglob("*")
            if path.suffix in {".mp4", ".png"} and "partial_movie_files" not in path.parts
        ]
        ok = done.returncode == 0 and bool(made)
        error = "" if ok else last_exception(done.stdout + "\n" + done.stderr)
        return Outcome(
            item.id, item.source, "raw", ok, error, "" if ok else classify(error, item.code), seconds
        )


def render_manimagent(
    item: Item, timeout: float, home: Path, max_attempts: int, still: bool = False
) -> Outcome:
    """`still`: ask for a PNG, as manim gives for a scene without animations (see STILL_SCENE)."""
    with tempfile.TemporaryDirectory(prefix="devset-ma-") as folder:
        script = Path(folder, "scene.py")
        script.write_text(item.code, encoding="utf-8")
        command = [
            PYTHON,
            "-m",
            "manimagent",
            "render",
            str(script),
            "--max-attempts",
            str(max_attempts),
            "--json",
        ]
        command += ["--format", "png"] if still else []
        command += ["-s", item.scene] if item.scene else []
        env = {**_clean_env(), "MANIMAGENT_HOME": str(home), "DEAD_KEY": "unused"}
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout * max_attempts + 60,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return Outcome(item.id, item.source, "manimagent", False, "TimeoutError", "timeout", timeout)
        seconds = time.monotonic() - started
        try:
            result = json.loads(done.stdout)
        except ValueError:
            error = _render_failure(done.stderr) or last_exception(done.stderr) or "no JSON result"
            return Outcome(
                item.id, item.source, "manimagent", False, error, classify(error, item.code), seconds
            )
        ok = bool(result.get("success")) and result.get("status") == "successful"
        error = (
            ""
            if ok
            else _render_failure(done.stderr)
            or str(result.get("error") or done.stderr.strip().splitlines()[-1:])
        )
        fixes = " | ".join(
            line.strip()
            for line in done.stderr.splitlines()
            if line.strip().lower().startswith(("fix", "fixed"))
        )
        if not ok and not still and STILL_SCENE in error:
            retried = render_manimagent(item, timeout, home, max_attempts, still=True)
            retried.fixes = f"still scene: rendered with --format png; {retried.fixes}"
            return retried
        return Outcome(
            item.id,
            item.source,
            "manimagent",
            ok,
            error,
            "" if ok else classify(error, item.code),
            seconds,
            fixes,
        )


def _render_failure(stderr: str) -> str:
    """The last render failure manimagent reported ("Attempt N failed: ..."), not a later repair's error."""
    failures = re.findall(r"^Attempt \d+ failed: (.*)$", stderr, re.MULTILINE)
    return failures[-1] if failures else ""


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in VENDOR_KEYS and not key.startswith("MANIMAGENT_")
    }
    return {**env, "NO_COLOR": "1", "COLUMNS": "200"}


def dead_provider_home(timeout: float) -> Path:
    """A fresh home whose only provider is an OpenAI-compatible endpoint on a closed loopback port."""
    home = Path(tempfile.mkdtemp(prefix="devset-home-"))
    env = {**_clean_env(), "MANIMAGENT_HOME": str(home), "DEAD_KEY": "unused"}
    config = f"[render]\ntimeout = {int(timeout)}\n\n[llm]\nmax_retries = 0\ntimeout = 5\n"
    (home / "config.toml").write_text(config, encoding="utf-8")
    add = [
        PYTHON,
        "-m",
        "manimagent",
        "providers",
        "add",
        "dead",
        "--type",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "none",
        "--api-key-env",
        "DEAD_KEY",
    ]
    subprocess.run(add, env=env, check=True, capture_output=True, text=True)
    return home


def run(
    items: list[Item], mode: str, jobs: int, timeout: float, max_attempts: int, results: Path | None
) -> list[Outcome]:
    home = dead_provider_home(timeout) if mode == "manimagent" else None

    def one(item: Item) -> Outcome:
        outcome = (
            render_raw(item, timeout)
            if home is None
            else render_manimagent(item, timeout, home, max_attempts)
        )
        print(
            f"{mode:10} {'ok ' if outcome.ok else 'ERR'} {outcome.seconds:6.1f}s {item.id[:70]}"
            f" {outcome.error_class}",
            file=sys.stderr,
            flush=True,
        )
        if results:
            with results.open("a", encoding="utf-8") as out:  # one line per outcome, as it comes
                out.write(json.dumps(asdict(outcome)) + "\n")
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, items))


def read_results(path: Path | None) -> list[Outcome]:
    if path is None or not path.exists():
        return []
    return [
        Outcome(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def report(outcomes: list[Outcome]) -> str:
    by_mode: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_mode[outcome.mode].append(outcome)
    modes = [mode for mode in ("raw", "manimagent") if mode in by_mode]
    sources = sorted({outcome.source for outcome in outcomes})
    lines = [
        "| source | items | " + " | ".join(f"{mode} renders" for mode in modes) + " |",
        "|---|---|" + "---|" * len(modes),
    ]
    for source in [*sources, "all"]:
        rows = {mode: [item for item in by_mode[mode] if source in ("all", item.source)] for mode in modes}
        count = len(next(iter(rows.values())))
        passed = {mode: sum(item.ok for item in rows[mode]) for mode in modes}
        cells = [f"{passed[mode]} ({100 * passed[mode] / max(count, 1):.0f}%)" for mode in modes]
        lines.append(f"| {source} | {count} | " + " | ".join(cells) + " |")
    classes = {mode: Counter(item.error_class for item in by_mode[mode] if not item.ok) for mode in modes}
    names = sorted(
        set().union(*classes.values()), key=lambda name: -max(counter[name] for counter in classes.values())
    )
    lines += [
        "",
        "| failure class | " + " | ".join(f"{mode} failures" for mode in modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    lines += [
        f"| {name} | " + " | ".join(str(classes[mode][name]) for mode in modes) + " |" for name in names
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("items", type=Path)
    parser.add_argument("--mode", choices=["raw", "manimagent", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--max-attempts", type=int, default=4)
    parser.add_argument(
        "--results", type=Path, help="append each outcome here (JSONL); items already there are skipped"
    )
    parser.add_argument(
        "--redo",
        choices=["raw", "manimagent"],
        help="drop that mode's earlier outcomes from --results and measure it again",
    )
    parser.add_argument("--limit", type=int)
    parser.add_argument("--report-only", action="store_true", help="only print the tables of --results")
    args = parser.parse_args()
    if args.report_only:
        print(report(read_results(args.results)))
        return
    items = load_items(args.items)[: args.limit]
    earlier = read_results(args.results)
    if args.redo and args.results:  # measure this mode again (e.g. after a change to the fixes)
        earlier = [outcome for outcome in earlier if outcome.mode != args.redo]
        args.results.write_text(
            "".join(json.dumps(asdict(outcome)) + "\n" for outcome in earlier), encoding="utf-8"
        )
    for mode in ["raw", "manimagent"] if args.mode == "both" else [args.mode]:
        done = {outcome.id for outcome in earlier if outcome.mode == mode}
        run(
            [item for item in items if item.id not in done],
            mode,
            args.jobs,
            args.timeout,
            args.max_attempts,
            args.results,
        )
    print(report(read_results(args.results)) if args.results else "")


if __name__ == "__main__":
    main()
