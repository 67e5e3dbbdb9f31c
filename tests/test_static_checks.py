"""`scripts/test.sh` runs ruff and mypy before pytest: a finding fails the run with one line that
says what to run, pytest runs either way, and each check has a timing line. Driven against a copy
of the script whose `.venv` holds stand-ins that record their arguments and exit as told."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0") $1" in
  "ruff check") exit {ruff_check} ;;
  "ruff format") exit {ruff_format} ;;
  "mypy "*) exit {mypy} ;;
  "python -m") exit {pytest} ;;
esac
exit 0
"""


def _run(tmp_path: Path, ruff_check: int = 0, ruff_format: int = 0, mypy: int = 0, pytest_rc: int = 0):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test.sh", repo / "scripts" / "test.sh")
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    for name in ("python", "ruff", "mypy"):
        program = bin_dir / name
        program.write_text(
            STAND_IN.format(
                log=log, ruff_check=ruff_check, ruff_format=ruff_format, mypy=mypy, pytest=pytest_rc
            )
        )
        program.chmod(0o755)
    env = {**os.environ, "MANIMAGENT_SKIP_DOCKER": "1", "MANIMAGENT_SKIP_POSTGRES": "1"}
    env.pop("CI", None)
    result = subprocess.run(
        ["bash", str(repo / "scripts" / "test.sh"), "-k", "something"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, log.read_text().splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="test.sh is a bash script")
def test_clean_checks_then_pytest_with_its_arguments(tmp_path):
    result, calls = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls[:3] == [
        "ruff check --quiet --output-format concise src tests bench scripts",
        "ruff format --check --quiet src tests bench scripts",
        "mypy ",
    ]
    assert calls[-1].startswith("python -m pytest") and calls[-1].endswith("-k something")
    assert "test:   ruff " in result.stderr and "test:   mypy " in result.stderr
    assert "static checks failed" not in result.stderr and "all tests passed" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="test.sh is a bash script")
def test_a_finding_fails_the_run_with_the_command_that_fixes_it(tmp_path):
    result, calls = _run(tmp_path, ruff_format=1, mypy=1)
    assert result.returncode == 1
    assert any(call.startswith("python -m pytest") for call in calls)  # the tests still ran
    fix = (
        "test: static checks failed (ruff format, mypy): run .venv/bin/ruff format src tests bench scripts;"
        " .venv/bin/mypy, then fix what it reports"
    )
    assert result.stderr.count(fix) == 2  # before pytest's output, and again at the end
    assert result.stderr.rstrip().splitlines()[-1] == (
        "test: all tests passed, but not the static checks (the line above says what to run)"
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="test.sh is a bash script")
def test_failing_tests_keep_their_exit_code_next_to_a_finding(tmp_path):
    result, _ = _run(tmp_path, ruff_check=1, pytest_rc=2)
    assert result.returncode == 2
    assert "static checks failed (ruff check): run .venv/bin/ruff check --fix" in result.stderr
    assert "pytest exited 2" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="test.sh is a bash script")
def test_a_missing_tool_says_to_run_setup(tmp_path):
    repo_bin = tmp_path / "repo" / ".venv" / "bin"
    result, _ = _run(tmp_path)  # the layout, then again without mypy
    (repo_bin / "mypy").unlink()
    env = {**os.environ, "MANIMAGENT_SKIP_DOCKER": "1"}
    env.pop("CI", None)
    again = subprocess.run(
        ["bash", str(tmp_path / "repo" / "scripts" / "test.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and again.returncode == 1
    assert "static checks failed (mypy): run ./scripts/setup.sh --test" in again.stderr
