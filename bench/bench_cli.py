"""CLI start-up and render overhead, measured in one run against manim itself.

    python bench/bench_cli.py [--runs 5]

Prints the median of each and the ratios the foundation issue asks for:
`manimagent --help` / `manim --help` (target <= 0.5) and
`manimagent render` / `python -m manim render -ql` on the same small scene (target <= 1.10).

The sandbox (render/sandbox.py) is measured the same way: the default render (bubblewrap where it
works) and one with `MANIMAGENT_RENDER_SANDBOX=none`, interleaved with raw manim run for run, so
that load on the machine falls on all three alike. Target: sandboxed / raw manim <= 1.05.

A further ratio shows manimagent's own cost without the savings of its render child (no PyPI
check, no interpreter teardown, one BLAS thread; see `render/child.py`): `manimagent render`
against that same child program run directly, in the same environment and job folder layout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from manimagent.render import child
from manimagent.render.base import Quality, RenderRequest, manim_arguments
from manimagent.render.process import render_environment

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "examples" / "circle.py"
BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    return time.perf_counter() - started


def median_of(command: list[str], runs: int, env: dict[str, str], cwd: Path) -> float:
    timed(command, env, cwd)  # warm the file cache and manim's name cache
    return statistics.median(timed(command, env, cwd) for _ in range(runs))


def interleaved(
    commands: dict[str, tuple[list[str], dict[str, str]]], runs: int, cwd: Path
) -> dict[str, float]:
    """The median of each command, run in turn once per round, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, (command, env) in commands.items():
            took = timed(command, env, cwd)
            if round_:
                times[name].append(took)
    return {name: statistics.median(values) for name, values in times.items()}


def child_alone(runs: int, work: Path) -> float:
    """The render child of the local engine, started by hand in a fresh job folder each run."""
    request = RenderRequest(code=SCENE.read_text(), scenes=["CircleToSquare"], quality=Quality.LOW)

    def once() -> float:
        job = Path(tempfile.mkdtemp(dir=work))
        (job / "scene.py").write_text(request.code)
        return timed(child.command(sys.executable, manim_arguments(request)), render_environment(job), job)

    once()
    return statistics.median(once() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MANIMAGENT_HOME": str(work / "home"), "NO_COLOR": "1"}
        manimagent = [str(BIN / "manimagent")]
        help_ours = median_of([*manimagent, "--help"], runs, env, work)
        help_manim = median_of([str(BIN / "manim"), "--help"], runs, env, work)
        render = [*manimagent, "render", str(SCENE), "--quality", "low", "--no-cache"]  # every run renders
        renders = interleaved(
            {
                "sandboxed": (render, env),
                "unsandboxed": (render, {**env, "MANIMAGENT_RENDER_SANDBOX": "none"}),
                "manim": (
                    [
                        sys.executable,
                        "-m",
                        "manim",
                        "render",
                        "-ql",
                        "--disable_caching",
                        str(SCENE),
                        "CircleToSquare",
                    ],
                    env,
                ),
            },
            runs,
            work,
        )
        render_ours, render_open, render_manim = (
            renders["sandboxed"],
            renders["unsandboxed"],
            renders["manim"],
        )
        render_child = child_alone(runs, work)
        sandbox = subprocess.run(
            [*manimagent, "doctor", "--json"], env=env, capture_output=True, text=True
        ).stdout
        kind = next(
            (c["detail"].split()[0] for c in json.loads(sandbox)["checks"] if c["name"] == "sandbox"), "?"
        )
    print(f"runs per measurement: {runs} (median)")
    print(f"manimagent --help        {help_ours:7.3f} s")
    print(f"manim --help             {help_manim:7.3f} s")
    print(f"  ratio                  {help_ours / help_manim:7.2f}  (target <= 0.50)")
    print(f"manimagent render        {render_ours:7.3f} s  (sandbox: {kind})")
    print(f"  render.sandbox = none  {render_open:7.3f} s")
    print(f"python -m manim -ql      {render_manim:7.3f} s")
    print(
        f"  ratio                  {render_ours / render_manim:7.2f}  (sandboxed / raw manim, target <= 1.05)"
    )
    print(f"  unsandboxed ratio      {render_open / render_manim:7.2f}  (render.sandbox = none / raw manim)")
    print(f"  the sandbox's cost     {render_ours / render_open:7.2f}  (sandboxed / unsandboxed)")
    print(f"render child alone       {render_child:7.3f} s")
    print(
        f"  manimagent's own cost  {render_ours / render_child:7.2f}  (manimagent render / its child alone)"
    )


if __name__ == "__main__":
    main()
