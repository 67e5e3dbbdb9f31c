"""What the preflight saves on a failing render above -ql, and what it costs on a passing one.

    python bench/bench_preflight.py [--quality high] [--runs 3]

Renders two scenes with the local engine, each with and without the preflight (a `-ql --format
none` dry run before the full render): one that fails after 8 s of animation (an attribute that
does not exist, on its last line), one that passes. Prints the median wall time of each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

FAILS_LATE = """from manim import *
class FailsLate(Scene):
    def construct(self):
        circle = Circle(color=BLUE)
        self.play(Create(circle), run_time=2)
        self.play(circle.animate.shift(RIGHT * 2), run_time=2)
        self.play(Transform(circle, Square(color=RED)), run_time=2)
        self.play(Rotate(circle, PI / 2), run_time=2)
        self.play(FadeOut(circle.no_such_part))
"""
PASSES = FAILS_LATE.replace("FailsLate", "Passes").replace("circle.no_such_part", "circle")


def one_render(code: str, scene: str, quality: str, preflight: bool, staging: Path) -> tuple[float, bool]:
    from manimagent.render.base import OutputFormat, Quality, RenderRequest
    from manimagent.render.local import LocalEngine
    from manimagent.render.staged import StagedRender

    request = RenderRequest(
        code=code, scenes=[scene], quality=Quality(quality), format=OutputFormat.AUTO, timeout=600
    )
    started = time.perf_counter()
    job = StagedRender(LocalEngine(), request, staging, preflight=preflight)
    result = job.wait()
    elapsed = time.perf_counter() - started
    job.discard()
    return elapsed, result.ok


def median_time(code: str, scene: str, quality: str, preflight: bool, runs: int, staging: Path) -> float:
    times = []
    for _ in range(runs):
        elapsed, ok = one_render(code, scene, quality, preflight, staging)
        assert ok == (scene == "Passes"), f"{scene} rendered={ok}"
        times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quality", default="high", choices=["medium", "high", "production", "4k"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        rows = []
        for code, scene in ((FAILS_LATE, "FailsLate"), (PASSES, "Passes")):
            without = median_time(code, scene, args.quality, False, args.runs, staging)
            with_preflight = median_time(code, scene, args.quality, True, args.runs, staging)
            rows.append((scene, without, with_preflight))
    print(f"quality: {args.quality}, runs: {args.runs} (median wall time, local engine)")
    print(f"{'scene':<12}{'no preflight':>14}{'preflight':>12}{'difference':>13}")
    for scene, without, with_preflight in rows:
        print(f"{scene:<12}{without:>13.1f}s{with_preflight:>11.1f}s{with_preflight - without:>+12.1f}s")


if __name__ == "__main__":
    main()
