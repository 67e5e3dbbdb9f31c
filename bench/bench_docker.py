"""Benchmark: one small scene rendered by the local engine, a warm container and fresh containers.

Usage: .venv/bin/python bench/bench_docker.py [--image manimagent-render:test] [--runs 5]

Each engine renders once to warm up (disk caches, LaTeX formats), then `--runs` times; the
median wall time of `engine.render(...)` is reported, as are the ratios the docker issue accepts
on: warm <= 1.3x local, and fresh >= 1.5x warm. Exit code 1 when either fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from manimagent.render.base import RenderRequest
from manimagent.render.docker import (
    DockerEngine,
    Limits,
    connect,
    remove_quietly,
    require_image,
    start_warm_container,
)
from manimagent.render.local import LocalEngine

SCENE = """from manim import *

class Bench(Scene):
    def construct(self):
        circle = Circle(color=BLUE)
        self.play(Create(circle), run_time=0.5)
        self.play(circle.animate.shift(RIGHT), run_time=0.5)
"""
WARM_MAX = 1.3
FRESH_MIN = 1.5


def time_renders(engine, runs: int, folder: Path) -> list[float]:
    request = RenderRequest(code=SCENE, scenes=["Bench"], timeout=120)
    times = []
    for index in range(runs + 1):
        started = time.perf_counter()
        result = engine.render(request, folder / f"{engine.name}-{index}")
        elapsed = time.perf_counter() - started
        if not result.ok:
            sys.exit(
                f"{engine.name} render failed: {result.failure and result.failure.summary()}\n"
                f"{result.log[-2000:]}"
            )
        if index:  # the first run warms caches
            times.append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="manimagent-render:test")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    client = connect()
    require_image(client, options.image)
    suffix = uuid.uuid4().hex[:8]
    names = {"container_name": f"manimagent-bench-{suffix}", "volume_name": f"manimagent-bench-{suffix}-work"}
    limits = Limits()
    container = start_warm_container(client, label="bench", image=options.image, limits=limits, **names)
    engines = {
        "local": LocalEngine(),
        "warm": DockerEngine(
            image=options.image, container_name="bench", docker_ref=container.id, limits=limits
        ),
        "fresh": DockerEngine(image=options.image, limits=limits),
    }
    medians = {}
    try:
        with tempfile.TemporaryDirectory(prefix="manimagent-bench-") as folder:
            for label, engine in engines.items():
                times = time_renders(engine, options.runs, Path(folder) / label)
                medians[label] = statistics.median(times)
                print(
                    f"{label:>5}: median {medians[label]:.3f} s  runs {' '.join(f'{t:.3f}' for t in times)}"
                )
    finally:
        remove_quietly(client, names["container_name"], names["volume_name"])
    warm_local = medians["warm"] / medians["local"]
    fresh_warm = medians["fresh"] / medians["warm"]
    print(f"warm/local  = {warm_local:.2f}  (accept <= {WARM_MAX})")
    print(f"fresh/warm  = {fresh_warm:.2f}  (accept >= {FRESH_MIN})")
    passed = warm_local <= WARM_MAX and fresh_warm >= FRESH_MIN
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
