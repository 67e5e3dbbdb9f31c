"""schemathesis against the live `/openapi.json`: well over 1,000 generated requests, no server error.

Runs the `st` CLI (schemathesis 4) with a verified user's Bearer token; renders are real (the offline
provider writes the scripts), with a short render timeout so 4k renders cannot eat the budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server_fixtures import start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]
RENDER_TIMEOUT = "8"  # seconds: a fuzzed 4k render is cut short instead of eating the budget
# ~22 operations x 30 examples over the coverage and fuzzing phases give > 1,000 cases; the stateful
# phase (which finds real ids through the responses, so each step renders) is kept short.
CONFIG = """
[generation]
max-examples = 30

[phases.stateful]
max-steps = 4

[phases.stateful.generation]
max-examples = 6
"""


def _summary_line(stdout: str) -> str:
    lines = [
        line.strip("= ").strip() for line in stdout.splitlines() if line.startswith("=") and " in " in line
    ]
    return lines[-1] if lines else ""


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error(tmp_path):
    live = start_server(tmp_path / "fuzz-home", env={"MANIMAGENT_RENDER_TIMEOUT": RENDER_TIMEOUT})
    try:
        account = live.account()
        report = tmp_path / "schemathesis.json"
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG)
        command = [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(config),
            "run",
            f"{live.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {account.access}",
            "--checks",
            "not_a_server_error",
            "--workers",
            "2",
            "--seed",
            "20261125",
            "--request-timeout",
            "300",
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=540)
    finally:
        live.stop()
    cases = next(
        (line.strip() for line in done.stdout.splitlines() if "generated" in line and "passed" in line), ""
    )
    print(f"schemathesis: {cases}; {_summary_line(done.stdout)}")
    doc = json.loads(report.read_text())
    assert doc["failures"] == [], done.stdout[-4000:]
    assert doc["errors"] == [], done.stdout[-4000:]
    assert doc["test_cases"]["generated"] >= 1000, doc["test_cases"]
    assert done.returncode == 0, done.stdout[-4000:]
    assert "Traceback" not in live.log.read_text()
