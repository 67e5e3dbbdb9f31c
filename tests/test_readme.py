"""The README's commands are real: the two set-up lines lead it, `.ci/run` runs the test one,
every `manimagent ...` command it shows parses, and the cheap offline ones succeed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAIN_COMMAND = './scripts/setup.sh && .venv/bin/manimagent generate "Animate a circle"'
TEST_COMMAND = "./scripts/setup.sh --test && ./scripts/test.sh"

# Commands cheap enough and free of network, keys, Docker and renders: these run for real.
RUNNABLE = {
    ("--help",),
    ("config", "path"),
    ("config", "show"),
    ("providers", "list"),
    ("scripts", "list"),
    ("executions", "list"),
}
FENCE = re.compile(r"^```(?:sh|bash|shell|console)?\s*\n(.*?)^```", re.M | re.S)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_blocks(text: str) -> list[str]:
    return [m.group(1) for m in FENCE.finditer(text)]


def shell_lines(text: str) -> list[str]:
    lines = []
    for block in shell_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ").strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def manimagent_invocations(text: str) -> list[list[str]]:
    """Each `manimagent ...` segment of each shell line, as argv without the program name."""
    found = []
    for line in shell_lines(text):
        for segment in re.split(r"&&|\|\||[|;]", line):
            words = shlex.split(segment, comments=True)
            while words and ENV_ASSIGNMENT.match(words[0]):
                words.pop(0)
            if words and Path(words[0]).name == "manimagent" and words[1:] not in found:
                found.append(words[1:])
    return found


def cli() -> str:
    beside = Path(sys.executable).with_name("manimagent")
    return str(beside) if beside.exists() else "manimagent"


def run_cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MANIMAGENT_HOME": str(home), "NO_COLOR": "1"}
    for vendor_key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(vendor_key, None)
    return subprocess.run(
        [cli(), *args], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def invocation_id(argv: list[str]) -> str:
    return " ".join(argv)[:60] or "(none)"


INVOCATIONS = manimagent_invocations(readme_text())


def test_readme_opens_with_the_two_commands() -> None:
    first_two = shell_blocks(readme_text())[:2]
    assert [block.strip() for block in first_two] == [MAIN_COMMAND, TEST_COMMAND]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[0] == "set -euo pipefail"
    assert commands[-1] == TEST_COMMAND
    assert all(c.startswith("cd ") for c in commands[1:-1])


def test_setup_scripts_are_executable() -> None:
    for name in ("scripts/setup.sh", "scripts/test.sh", ".ci/run"):
        assert os.access(ROOT / name, os.X_OK), f"{name} is not executable"


def test_readme_shows_enough_commands() -> None:
    assert len(INVOCATIONS) >= 20
    assert any(tuple(argv) in RUNNABLE for argv in INVOCATIONS)


def test_readme_example_files_exist() -> None:
    shown = {word for argv in INVOCATIONS for word in argv if word.startswith("examples/")}
    assert shown
    assert [name for name in sorted(shown) if not (ROOT / name).is_file()] == []


@pytest.mark.parametrize("argv", INVOCATIONS, ids=invocation_id)
def test_readme_command_parses(argv: list[str], tmp_path: Path) -> None:
    """`--help` after the whole command: the subcommands and every option exist."""
    result = run_cli([*argv, "--help"], tmp_path / "home")
    assert result.returncode == 0, f"manimagent {' '.join(argv)} --help: {result.stderr[-800:]}"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [a for a in INVOCATIONS if tuple(a) in RUNNABLE], ids=invocation_id)
def test_readme_offline_command_runs(argv: list[str], tmp_path: Path) -> None:
    result = run_cli(argv, tmp_path / "home")
    assert result.returncode == 0, f"manimagent {' '.join(argv)}: {result.stderr[-800:]}"
    assert "Traceback" not in result.stderr
