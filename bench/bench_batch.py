"""Many videos fast, measured in one run against manim itself.

    python bench/bench_batch.py [--scenes 12] [--jobs 2]

1. 12 different small scenes through `manimagent render DIR --jobs 2` (the warm, sandboxed render
   pool) against 12 sequential `python -m manim render -ql` (target >= 3.5x faster);
2. the same 12 again: every scene is a render-cache hit (target >= 10x faster than the first batch);
3. one scene of ~5 s raw render time, unchanged, rendered again (target >= 5x faster than raw manim);
4. the peak memory of the `--jobs 2` batch (the sum over its process tree, sampled).

The manimagent runs share one fresh MANIMAGENT_HOME, warmed first by one untimed render of
another scene (it introspects the installed manim once per home); the cache is on (its default).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SHAPES = [
    "Circle()",
    "Square()",
    "Triangle()",
    "Star()",
    "RegularPolygon(6)",
    "Dot(radius=0.5)",
    "Annulus()",
    "Ellipse()",
    "Rectangle()",
    "Arc(angle=PI)",
    "Line(LEFT, RIGHT)",
    "Arrow(LEFT, RIGHT)",
]
COLOURS = [
    "RED",
    "BLUE",
    "GREEN",
    "YELLOW",
    "PURPLE",
    "ORANGE",
    "TEAL",
    "PINK",
    "GOLD",
    "MAROON",
    "WHITE",
    "GREY",
]
SLOW = """from manim import *
class Slow(Scene):
    def construct(self):
        dots = VGroup(*[
            Dot(radius=0.04).move_to([np.cos(k) * (1 + k / 200), np.sin(k) * (1 + k / 200), 0])
            for k in range(700)
        ])
        self.play(Create(dots), run_time=4)
        self.play(dots.animate.rotate(PI).scale(0.5), run_time=4)
"""


def small_scene(index: int) -> str:
    shape, colour = SHAPES[index % len(SHAPES)], COLOURS[index % len(COLOURS)]
    return (
        "from manim import *\n"
        f"class Small{index}(Scene):\n"
        "    def construct(self):\n"
        f"        shape = {shape}.set_color({colour})\n"
        "        self.play(Create(shape), run_time=0.5)\n"
        f"        self.play(shape.animate.shift(RIGHT * {1 + index % 3}), run_time=0.5)\n"
    )


def timed(command: list[str], env: dict[str, str], cwd: Path, peak: list[int] | None = None) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = (
        threading.Thread(target=_sample_memory, args=(process, peak), daemon=True)
        if peak is not None
        else None
    )
    if sampler:
        sampler.start()
    _, err = process.communicate()
    took = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({process.returncode}): {err.decode()[-2000:]}")
    return took


def _sample_memory(process: subprocess.Popen, peak: list[int]) -> None:
    while process.poll() is None:
        peak.append(_tree_rss(process.pid))
        time.sleep(0.1)


def _tree_rss(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenes = work / "scenes"
        scenes.mkdir()
        for index in range(args.scenes):
            (scenes / f"small_{index:02d}.py").write_text(small_scene(index))
        (work / "slow.py").write_text(SLOW)
        env = {**os.environ, "NO_COLOR": "1", "MANIMAGENT_HOME": str(work / "home")}
        manim = [
            sys.executable,
            "-m",
            "manim",
            "render",
            "-ql",
            "--disable_caching",
            "--media_dir",
            str(work / "raw-media"),
        ]
        warm = work / "warm.py"  # manimagent learns the installed manim's names once per home: not timed
        warm.write_text(small_scene(99).replace("Small99", "Warm"))
        timed([str(BIN / "manimagent"), "render", str(warm), "--no-cache"], env, work)
        raw = sum(timed([*manim, str(path)], env, work) for path in sorted(scenes.glob("*.py")))
        peak: list[int] = []
        batch = timed(
            [str(BIN / "manimagent"), "render", str(scenes), "--jobs", str(args.jobs), "--json"],
            env,
            work,
            peak,
        )
        again = timed(
            [str(BIN / "manimagent"), "render", str(scenes), "--jobs", str(args.jobs), "--json"], env, work
        )
        slow_raw = timed([*manim, str(work / "slow.py")], env, work)
        timed([str(BIN / "manimagent"), "render", str(work / "slow.py")], env, work)
        slow_again = timed([str(BIN / "manimagent"), "render", str(work / "slow.py")], env, work)
    print(f"{args.scenes} small scenes, --jobs {args.jobs}, on {os.cpu_count()} cores")
    print(f"sequential python -m manim -ql  {raw:7.2f} s")
    print(
        f"manimagent render DIR --jobs {args.jobs}  {batch:7.2f} s   {raw / batch:5.2f}x faster"
        "  (target >= 3.5)"
    )
    print(
        f"  the same again (cache hits)   {again:7.2f} s   {batch / again:5.2f}x faster than the first batch"
        "  (target >= 10)"
    )
    print(f"~5 s scene, python -m manim     {slow_raw:7.2f} s")
    print(
        f"  unchanged, manimagent again   {slow_again:7.2f} s   {slow_raw / slow_again:5.2f}x faster"
        "  (target >= 5)"
    )
    print(f"peak memory of the batch        {max(peak or [0]) / 2**20:7.0f} MiB (its whole process tree)")


if __name__ == "__main__":
    main()
