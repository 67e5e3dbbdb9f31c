"""How fast the command line answers, against manim's own: `manimagent --help` and `manim --help`
run in turn, round after round (so load on the machine falls on both alike), after one warm-up.

    python bench/bench_help.py [--runs 15]

Prints the median of each, and the ratio the daily-loop issue keeps: manimagent --help /
manim --help <= 0.5 (completion and the help's tidying must not slow it). Also times a command's
help, the completion script, and one completion request, for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET = 0.5


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """The median of each command, run in turn once per round, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, (command, env) in commands.items():
            took = timed(command, env)
            if round_:
                times[name].append(took)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    ours = str(BIN / "manimagent")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MANIMAGENT_HOME": home, "NO_COLOR": "1"}
        complete = {
            **env,
            "_MANIMAGENT_COMPLETE": "complete_bash",
            "COMP_WORDS": "manimagent ren",
            "COMP_CWORD": "1",
        }
        medians = interleaved(
            {
                "manimagent --help": ([ours, "--help"], env),
                "manim --help": ([str(BIN / "manim"), "--help"], env),
                "manimagent render --help": ([ours, "render", "--help"], env),
                "completion request (bash)": ([ours], complete),
            },
            runs,
        )
    print(f"runs per command: {runs} (median, interleaved)")
    for name, seconds in medians.items():
        print(f"{name:28s} {seconds:7.3f} s")
    ratio = medians["manimagent --help"] / medians["manim --help"]
    print(
        f"  ratio manimagent/manim     {ratio:7.2f}"
        f"  (target <= {TARGET:.2f}: {'ok' if ratio <= TARGET else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
