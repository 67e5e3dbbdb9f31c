"""Renders through `serve` on PostgreSQL with 1, 2 and 3 local `manimagent worker`s.

    python bench/bench_scale.py [--renders 24] [--workers 1,2,3] [--json]

A throwaway PostgreSQL cluster on loopback (tests/postgres_cluster.py), and for each worker count
a fresh database, a fresh `serve` and that many workers (each `--concurrency 1`, its own home).
The same `--renders` small renders (examples/circle.py, low quality, render cache off) are queued
through the REST API (`"wait": false`) and timed until every one has finished. Reports renders
per minute and, per worker, the jobs it ran and the CPU seconds it and its renders used (from
/proc: the worker's own time plus that of the job processes it waited for).

On a 2-core machine, expect throughput to grow from 1 to 2 workers and flatten at 3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))
os.environ.setdefault(
    "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), str(TESTS), os.environ.get("PYTHONPATH")]))
)


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (its waited-for children included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_once(cluster, root: Path, workers: int, renders: int) -> dict:
    from queue_fixtures import queue_render, start_site

    site = start_site(root / f"w{workers}", cluster.url(cluster.create_database()))
    try:
        account = site.server.account("bench@example.com")
        processes = [site.start_worker(f"bench-{index}") for index in range(workers)]
        time.sleep(3)  # every worker has introduced itself and listens
        before = {worker.name: cpu_seconds(worker.process.pid) for worker in processes}
        code = (ROOT / "examples" / "circle.py").read_text()
        started = time.monotonic()
        queued = [queue_render(site, account, code) for _ in range(renders)]
        rows = [site.wait_for(account, doc["execution_id"], timeout=1800) for doc in queued]
        elapsed = time.monotonic() - started
        after = {worker.name: cpu_seconds(worker.process.pid) for worker in processes}
    finally:
        site.stop()
    failed = [row["id"] for row in rows if row["status"] != "succeeded"]
    return {
        "workers": workers,
        "renders": renders,
        "failed": len(failed),
        "seconds": round(elapsed, 1),
        "renders_per_minute": round(60 * renders / elapsed, 2),
        "per_worker": {
            name: {
                "jobs": sum(1 for row in rows if row["worker"] == name),
                "cpu_seconds": round(after[name] - before[name], 1),
            }
            for name in sorted(before)
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=24)
    parser.add_argument("--workers", default="1,2,3", help="worker counts to measure, comma-separated")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    args = parser.parse_args()
    from postgres_cluster import PostgresCluster, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        print("bench_scale: no PostgreSQL server programs (apt-get install postgresql)", file=sys.stderr)
        return 3
    cluster = PostgresCluster(bindir)
    cluster.init()
    cluster.start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="manimagent-bench-scale-") as folder:
            for count in [int(item) for item in args.workers.split(",")]:
                results.append(run_once(cluster, Path(folder), count, args.renders))
                if not args.json:
                    print(_line(results[-1]), flush=True)
    finally:
        cluster.remove()
    if args.json:
        print(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2))
    return 1 if any(result["failed"] for result in results) else 0


def _line(result: dict) -> str:
    per = ", ".join(
        f"{name}: {item['jobs']} jobs {item['cpu_seconds']} s CPU"
        for name, item in result["per_worker"].items()
    )
    return (
        f"{result['workers']} worker(s): {result['renders']} renders in {result['seconds']} s"
        f" = {result['renders_per_minute']} renders/min"
        f" ({result['failed']} failed) | {per}"
    )


if __name__ == "__main__":
    sys.exit(main())
