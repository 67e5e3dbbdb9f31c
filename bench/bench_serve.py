"""`manimagent serve` under load, against a minimal FastAPI route in the same run.

    python bench/bench_serve.py [--scripts 1000] [--clients 50] [--seconds 20] [--workers 2] [--json]

A fresh home gets one verified account owning `--scripts` scripts (each with an execution). Then,
on loopback, `--clients` concurrent keep-alive clients send `GET /api/agents/scripts/` (the
default page: 50 scripts, authenticated) for `--seconds`, and the same for a minimal FastAPI app
(`GET /ping`, a 50-item list, no auth, no database) served by uvicorn with as many processes.
One client alone measures the latency of the default page. Reports req/s, p50 and p99.

Goals (issue 10, a 2-core machine): >= 300 req/s and p99 <= 300 ms for the default page at 50
clients; p50 <= 10 ms for one client. The load generator runs on the same cores as the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password, long enough"
SECRET = "bench-secret-" + "x" * 40
MINIMAL_APP = textwrap.dedent(
    """
    from fastapi import FastAPI

    app = FastAPI()
    ROWS = [{"id": str(i), "prompt": "p", "status": "successful"} for i in range(50)]


    @app.get("/ping")
    def ping():
        return ROWS
    """
)


# ---- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path, probe: str) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:4]} exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(probe, timeout=2).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{command[:4]} did not start:\n{log.read_text()}")


def serve(home: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "MANIMAGENT_HOME": str(home),
        "MANIMAGENT_SECRET_KEY": SECRET,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    command = [sys.executable, "-m", "manimagent", "serve", "--port", str(port), "--workers", str(workers)]
    return start(command, env, home.parent / "serve.log", f"http://127.0.0.1:{port}/openapi.json")


def minimal(folder: Path, port: int, workers: int) -> subprocess.Popen:
    (folder / "minimal_app.py").write_text(MINIMAL_APP)
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "minimal_app:app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    return start(command, env, folder / "minimal.log", f"http://127.0.0.1:{port}/ping")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- the account and its scripts -----------------------------------------------------------------


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def account(base: str, home: Path) -> tuple[int, str]:
    """(user id, access token) of a new verified account."""
    email = "bench@example.com"
    post(f"{base}/api/auth/register/", {"email": email, "password": PASSWORD})
    mail = next((home / "outbox").glob("*.eml")).read_text()
    token = re.search(r"^Verification token: (\S+)", mail, re.MULTILINE).group(1)
    post(f"{base}/api/auth/verify-email/", {"token": token})
    pair = post(f"{base}/api/auth/login/", {"email": email, "password": PASSWORD})
    return pair["user"]["id"], pair["access"]


def add_scripts(db: Path, owner_id: int, count: int) -> None:
    code = (ROOT / "examples" / "circle.py").read_text()
    with sqlite3.connect(db, timeout=30) as conn:
        for index in range(count):
            script_id, stamp = (
                str(uuid.uuid4()),
                f"2026-01-01 {index // 3600:02d}:{index // 60 % 60:02d}:{index % 60:02d}.000000",
            )
            conn.execute(
                "INSERT INTO script (id, owner_id, prompt, content, scene_class, scenes, status, source,"
                " prompt_tokens, completion_tokens, total_tokens, provider_attempts, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'CircleToSquare', '[\"CircleToSquare\"]',"
                " 'successful', 'imported', 0, 0, 0, '[]', ?, ?)",
                (script_id, owner_id, f"Animate a circle, number {index}", code, stamp, stamp),
            )
            conn.execute(
                "INSERT INTO execution (id, script_id, owner_id, attempt_number, engine, quality, format,"
                " scenes, status, is_successful, log, outputs, original_script, fixes, created_at, layout)"
                " VALUES (?, ?, ?, 1, 'local', 'low', 'mp4', '[]', 'succeeded', 1, '',"
                " '[]', ?, '[]', ?, '[]')",
                (str(uuid.uuid4()), script_id, owner_id, code, stamp),
            )


# ---- the load: keep-alive HTTP/1.1 clients on asyncio ----------------------------------------------


async def one_client(
    port: int, request: bytes, until: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
            if status != 200:
                errors.append(str(status))
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def load(port: int, path: str, token: str | None, clients: int, seconds: float) -> dict:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: application/json\r\n\r\n".encode()
    )
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(one_client(port, request, until, latencies, errors) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "path": path,
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


# ---- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes of each server (serve --workers, uvicorn --workers)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        results = run(Path(folder), args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results)


def run(folder: Path, args: argparse.Namespace) -> dict:
    home = folder / "home"
    home.mkdir()
    port, minimal_port = free_port(), free_port()
    server = serve(home, port, args.workers)
    try:
        user_id, token = account(f"http://127.0.0.1:{port}", home)
        add_scripts(home / "manimagent.db", user_id, args.scripts)
        asyncio.run(load(port, "/api/agents/scripts/", token, 4, 2.0))  # warm up every process
        page = asyncio.run(load(port, "/api/agents/scripts/", token, args.clients, args.seconds))
        alone = asyncio.run(load(port, "/api/agents/scripts/", token, 1, min(args.seconds, 10.0)))
    finally:
        stop(server)
    baseline_server = minimal(folder, minimal_port, args.workers)
    try:
        asyncio.run(load(minimal_port, "/ping", None, 4, 2.0))
        baseline = asyncio.run(load(minimal_port, "/ping", None, args.clients, args.seconds))
    finally:
        stop(baseline_server)
    goals = {
        "req_per_s >= 300 at 50 clients": page["req_per_s"] >= 300,
        "p99 <= 300 ms at 50 clients": page["p99_ms"] <= 300,
        "p50 <= 10 ms for one client": alone["p50_ms"] <= 10,
    }
    return {
        "scripts": args.scripts,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "default_page": page,
        "one_client": alone,
        "minimal_fastapi": baseline,
        "goals": goals,
    }


def report(results: dict) -> None:
    print(
        f"{results['scripts']} scripts, serve --workers {results['workers']}, {results['cpus']} CPUs,"
        " loopback"
    )
    print(f"{'':34} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for label, key in (
        ("GET /api/agents/scripts/ (page 50)", "default_page"),
        ("  the same, one client", "one_client"),
        ("minimal FastAPI GET /ping", "minimal_fastapi"),
    ):
        row = results[key]
        print(
            f"{label:34} {row['clients']:>7} {row['req_per_s']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8}"
            f" {row['errors']:>6}"
        )
    for goal, met in results["goals"].items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
