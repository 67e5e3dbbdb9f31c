"""`serve --workers N`: N processes on one port sharing the store, the secret and the event logs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import EXAMPLES, ROOT, child_pids
from server_fixtures import LiveServer, _wait_until_up, free_port, server_env

pytestmark = pytest.mark.server


def test_two_processes_serve_one_store(tmp_path):
    home = tmp_path / "workers-home"
    home.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    secret = "workers-secret-" + "x" * 40
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "serve", "--port", str(port), "--workers", "2"],
        env=server_env(home, {"MANIMAGENT_SECRET_KEY": secret}),
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    live = LiveServer(f"http://127.0.0.1:{port}", home, secret, process, log)
    try:
        _wait_until_up(live)
        assert len([pid for pid in child_pids(process.pid)]) >= 2  # the workers (and uvicorn's helper)
        alice = live.account()
        script = live.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        ).json()
        for _ in range(10):  # whichever process answers, it sees the same rows and accepts the same token
            listed = live.get("/api/agents/scripts/", headers=alice.headers)
            assert listed.status_code == 200 and [row["id"] for row in listed.json()] == [script["id"]]
        queued = live.post(
            f"/api/agents/scripts/{script['id']}/execute/",
            json={"wait": False, "quality": "low"},
            headers=alice.headers,
        )
        assert queued.status_code == 202
        with live.http.stream(
            "GET", f"/api/agents/executions/{queued.json()['execution_id']}/events/", headers=alice.headers
        ) as stream:
            kinds = [
                line.split(":", 1)[1].strip() for line in stream.iter_lines() if line.startswith("event:")
            ]
        assert kinds[0] == "render_started" and kinds[-1] == "done"
    finally:
        live.stop()
    assert "Traceback" not in log.read_text()
