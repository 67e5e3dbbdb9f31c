"""Pipeline overhead per attempt, with the LLM and the render taken out.

    python bench/bench_pipeline.py [--runs 20]

An instant engine (copies a pre-rendered video) and an instant provider (a fixed reply) replace
manim and the LLM, so what is timed is manimagent's own work per attempt: checks, fixes, database
rows, moving the video into media. For scale, the same run times one real small manim render.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "examples" / "circle.py"
REPLY = "```python\n" + SCENE.read_text() + "```"


class InstantEngine:
    """Returns a copy of one real video at once: the render costs nothing."""

    name = "instant"
    has_latex = True

    def __init__(self, video: Path):
        self.video = video

    def render(self, request, staging, on_progress=None):
        from manimagent.render.base import RenderResult

        staging.mkdir(parents=True, exist_ok=True)
        target = staging / f"{request.scenes[0]}.{request.format.value}"
        shutil.copyfile(self.video, target)
        return RenderResult(ok=True, outputs=[target], log="instant", duration=0.0)


def real_render(work: Path) -> tuple[float, Path]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "manim",
            "render",
            "-ql",
            "--disable_caching",
            "--media_dir",
            str(work / "m"),
            str(SCENE),
            "CircleToSquare",
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, next((work / "m").rglob("CircleToSquare.mp4"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["MANIMAGENT_HOME"] = str(work / "home")
        render_time, video = real_render(work)

        from manimagent.attempt import NewScript, RenderOptions
        from manimagent.context import local_context
        from manimagent.pipeline import run_attempts
        from manimagent.providers.base import Completion
        from manimagent.render.base import OutputFormat, Quality
        from manimagent.services import generate as generate_service
        from manimagent.services import llm

        ctx = local_context()
        options = RenderOptions(
            engine=InstantEngine(video),
            quality=Quality.LOW,
            format=OutputFormat.MP4,
            max_attempts=1,
            timeout=60,
        )
        code = SCENE.read_text()
        run_attempts(ctx, NewScript(code=code, prompt="warm-up"), options)

        def one_attempt() -> float:
            started = time.perf_counter()
            assert run_attempts(ctx, NewScript(code=code, prompt="bench"), options).success
            return time.perf_counter() - started

        attempt = statistics.median(one_attempt() for _ in range(runs))

        llm.complete = lambda ctx, chain, messages, stream=True: llm.Answer(
            Completion(REPLY, "instant"), chain[0].config, []
        )
        generate_service.render_options = lambda ctx, **kw: options

        def one_generate() -> float:
            started = time.perf_counter()
            assert generate_service.generate(ctx, prompt="Animate a circle", provider="offline").success
            return time.perf_counter() - started

        generate = statistics.median(one_generate() for _ in range(runs))
    print(f"runs: {runs} (median)")
    print(f"real manim render (-ql, small scene)     {render_time * 1000:8.1f} ms  (baseline, one run)")
    print(
        f"pipeline per attempt (render excluded)   {attempt * 1000:8.1f} ms"
        f"  = {attempt / render_time:6.1%} of the render"
    )
    print(
        f"generate end to end (LLM+render excl.)   {generate * 1000:8.1f} ms"
        f"  = {generate / render_time:6.1%} of the render"
    )


if __name__ == "__main__":
    main()
