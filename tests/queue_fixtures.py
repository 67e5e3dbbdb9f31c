"""serve on PostgreSQL and `manimagent worker` processes on loopback, each with its own home
(standing in for machines), for the job-queue tests and bench/bench_scale.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import ROOT
from server_fixtures import LiveServer, server_env, start_server

SLOW_SCENE = """from manim import *
import time


class Slow(Scene):
    def construct(self):
        time.sleep({seconds})
        self.add(Circle(color=BLUE))
        self.wait(0.2)
"""
UNFINISHED = ("queued", "running")


@dataclass
class WorkerProcess:
    name: str
    home: Path
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class QueueSite:
    """One PostgreSQL database, one serve, and the workers started so far."""

    url: str
    root: Path
    server: LiveServer
    workers: list[WorkerProcess] = field(default_factory=list)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return server_env(home, {"MANIMAGENT_DATABASE_URL": self.url, **extra})

    def cli(self, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "manimagent", *args],
            env=self.env(home or self.server.home),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def add_worker(self, name: str) -> str:
        done = self.cli("workers", "add", name, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["token"]

    def start_worker(
        self, name: str, *, token: str | None = None, concurrency: int = 1, queues: tuple[str, ...] = ()
    ) -> WorkerProcess:
        token = token or self.add_worker(name)
        home = self.root / f"worker-{name}"
        home.mkdir(parents=True, exist_ok=True)
        log = self.root / f"worker-{name}.log"
        args = [
            "worker",
            "--concurrency",
            str(concurrency),
            *[item for queue in queues for item in ("--queue", queue)],
        ]
        process = subprocess.Popen(
            [sys.executable, "-m", "manimagent", *args],
            env=self.env(home, MANIMAGENT_WORKER_TOKEN=token, MANIMAGENT_SERVER=self.server.url),
            cwd=ROOT,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(name, home, process, log)
        self.workers.append(worker)
        return worker

    def restart_server(self, *, kill: bool = False) -> None:
        if kill:
            self.server.process.kill()
            self.server.process.wait()
            self.server.http.close()
        else:
            self.server.stop()
        secret = self.server.secret
        self.server = start_server(self.server.home, secret=secret, env={"MANIMAGENT_DATABASE_URL": self.url})

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.server.stop()

    # -- reading the outcome ---------------------------------------------------------------------

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params or {})]
        finally:
            engine.dispose()

    def wait_for(
        self, account, execution_id: str, *, until: tuple[str, ...] | None = None, timeout: float = 300
    ) -> dict[str, Any]:
        """The execution once its status is in `until` (default: anything finished)."""
        deadline = time.monotonic() + timeout
        row: dict[str, Any] = {}
        while time.monotonic() < deadline:
            answer = self.server.get(f"/api/agents/executions/{execution_id}/", headers=account.headers)
            if answer.status_code == 200:
                row = answer.json()
                if (row["status"] in until) if until else (row["status"] not in UNFINISHED):
                    return row
            time.sleep(0.3)
        raise AssertionError(
            f"execution {execution_id} still {row.get('status')} after {timeout} s: {self.logs()}"
        )

    def logs(self) -> str:
        texts = [self.server.log.read_text(errors="replace")[-3000:]]
        texts += [
            f"--- {worker.name}\n" + worker.log.read_text(errors="replace")[-3000:]
            for worker in self.workers
            if worker.log.exists()
        ]
        return "\n".join(texts)


def start_site(root: Path, url: str) -> QueueSite:
    root.mkdir(parents=True, exist_ok=True)
    server = start_server(root / "server-home", env={"MANIMAGENT_DATABASE_URL": url})
    return QueueSite(url=url, root=root, server=server)


def queue_render(site: QueueSite, account, code: str) -> dict[str, Any]:
    """Import `code` and queue its render (`"wait": false`): the 202 document."""
    script = site.server.post("/api/agents/scripts/import/", json={"code": code}, headers=account.headers)
    assert script.status_code == 201, script.text
    queued = site.server.post(
        f"/api/agents/scripts/{script.json()['id']}/execute/",
        json={"wait": False, "max_attempts": 1},
        headers=account.headers,
    )
    assert queued.status_code == 202, queued.text
    return queued.json()


def environ_without_server() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "MANIMAGENT_SERVER"}
