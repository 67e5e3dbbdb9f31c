"""The newcomer's path: the README's commands run as the README shows them, on a machine like a
fresh headless one (no keyring, no terminal, an `xdg-open` that must never be called), and the
pieces that path leans on (zombies counted as gone, progress with an ETA, the secrets file).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, process_gone
from test_readme import ENV_ASSIGNMENT, FENCE, readme_text

NO_KEYRING = "keyring.backends.fail.Keyring"
README_SERVER = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery staple"
FAKE_KEY = "sk-newcomer-0123456789"


# --- the README, section by section ----------------------------------------------------------


def section(title: str) -> str:
    """The README's text under `## title`, up to the next `## ` heading."""
    text = readme_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def commands(text: str) -> list[list[str]]:
    """Each `manimagent ...` line of the fenced blocks in `text`, as argv without the program."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and ENV_ASSIGNMENT.match(words[0]):
                words.pop(0)
            if words and words[0] == "manimagent":
                found.append(words[1:])
    return found


def exports(text: str) -> dict[str, str]:
    """`export NAME=VALUE` lines of the fenced blocks in `text`."""
    found = {}
    for block in FENCE.findall(text):
        for line in block.splitlines():
            match = re.match(r"^export ([A-Z_]+)=(\S+)$", line.strip())
            if match:
                found[match[1]] = match[2]
    return found


# --- a headless newcomer's machine -------------------------------------------------------------


class Machine:
    """A home, no keyring, no terminal (stdin is a pipe or /dev/null), a fake `xdg-open` on PATH."""

    def __init__(self, root: Path, env: dict[str, str] | None = None):
        self.home = root / "home"
        self.cwd = root / "work"
        self.bin = root / "bin"
        for folder in (self.home, self.cwd, self.bin):
            folder.mkdir(parents=True, exist_ok=True)
        self.opened = root / "xdg-open.calls"
        opener = self.bin / "xdg-open"
        opener.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(self.opened))}\n')
        opener.chmod(0o755)
        self.env = {
            **os.environ,
            "MANIMAGENT_HOME": str(self.home),
            "PYTHON_KEYRING_BACKEND": NO_KEYRING,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        }

    def run(
        self, argv: list[str], *, stdin: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "manimagent", *argv],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.cwd,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def ok(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        done = self.run(argv, **kwargs)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def nothing_opened(self) -> bool:
        return not self.opened.exists()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the README's quick start --------------------------------------------------------------------


@pytest.mark.slow
def test_the_quick_start_runs_as_shown_and_the_video_is_found_again(tmp_path):
    machine = Machine(tmp_path)
    shown = commands(section("Quick start"))
    quick = shown[: next(i for i, argv in enumerate(shown) if argv[:1] == ["providers"])]
    assert ["scripts", "show", "last"] in quick and ["executions", "show", "last"] in quick
    out = {}
    for argv in quick:
        out[" ".join(argv[:3])] = machine.ok(argv)
    first = out["generate Animate a circle"]
    assert "offline" in first.stderr  # no provider, no key: it says which one it used
    video = Path(first.stdout.strip().splitlines()[-1])
    assert video.is_file() and video.is_relative_to(machine.home)
    copied = [argv[argv.index("-o") + 1] for argv in quick if "-o" in argv]
    assert copied and all((machine.cwd / name).stat().st_size > 1000 for name in copied)
    shown_script = out["scripts show last"].stdout
    assert re.search(r"^video: /\S+\.mp4$", shown_script, re.M), shown_script
    listing = out["executions list"].stdout.splitlines()
    rows = [line for line in listing if "succeeded" in line]
    assert len(rows) == 2  # one line per render, never folded when not on a terminal
    assert any("Animate a circle" in row and str(video) in row for row in rows)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[0])
    assert "status: succeeded" in out["executions show last"].stdout
    assert machine.nothing_opened()


def test_one_provider_and_its_key_on_a_machine_without_keyring(tmp_path):
    """The README's first providers block, keyring-less: the key lands in a 0600 file, said once."""
    machine = Machine(tmp_path)
    block = commands(section("Quick start"))
    first = block[next(i for i, argv in enumerate(block) if argv[:1] == ["providers"]) :][:2]
    assert [argv[:2] for argv in first] == [["providers", "add"], ["providers", "set-key"]]
    machine.ok(first[0])
    stored = machine.ok(first[1], stdin=FAKE_KEY + "\n")
    secrets = machine.home / "secrets.json"
    assert mode(secrets) == 0o600 and FAKE_KEY in secrets.read_text()
    assert "No keyring on this machine" in stored.stderr and str(secrets) in stored.stderr
    (listed,) = json.loads(machine.ok(["providers", "list", "--json"]).stdout)
    assert listed["key_source"] == "file" and FAKE_KEY not in json.dumps(listed)
    checks = {
        check["name"]: check for check in json.loads(machine.run(["doctor", "--json"]).stdout)["checks"]
    }
    assert not checks["keyring"]["ok"] and "0600" in checks["keyring"]["detail"]  # a warning, not ok
    machine.ok(["providers", "remove", first[0][2]])
    assert FAKE_KEY not in secrets.read_text()


def test_set_key_for_an_unknown_provider_fails_before_asking(tmp_path):
    machine = Machine(tmp_path)
    done = machine.run(["providers", "set-key", "nope"], stdin=FAKE_KEY + "\n")
    assert done.returncode == 2 and "no provider named 'nope'" in done.stderr
    assert not (machine.home / "secrets.json").exists()


def test_providers_without_keys_fail_with_the_offline_hint(tmp_path):
    """The README's providers pasted without their keys: one says which key, several say that
    every provider failed; both name `--provider offline`, which still works."""
    machine = Machine(tmp_path)
    machine.ok(["providers", "add", "gemini", "--type", "gemini"])
    one = machine.run(["generate", "Animate a circle", "--no-execute"])
    assert one.returncode == 3 and "set-key gemini" in one.stderr and "--provider offline" in one.stderr
    machine.ok(["providers", "add", "claude", "--type", "anthropic", "--priority", "2"])
    several = machine.run(["generate", "Animate a circle", "--no-execute"])
    assert several.returncode == 1
    assert "every provider failed" in several.stderr and "--provider offline" in several.stderr
    machine.ok(["generate", "Animate a circle", "--no-execute", "--provider", "offline"])


# --- the README's auth flow through a server, keyring-less on both sides --------------------------


@pytest.mark.slow
@pytest.mark.server
def test_the_auth_flow_through_a_server_works_without_keyring(tmp_path):
    from manimagent.services.auth import SECRET_FILE_NAME
    from server_fixtures import start_server

    server = start_server(tmp_path / "server-home", secret=None, env={"PYTHON_KEYRING_BACKEND": NO_KEYRING})
    try:
        text = section("Serve the REST API")
        flow = [[word.replace(README_SERVER, server.url) for word in argv] for argv in commands(text)]
        machine = Machine(
            tmp_path / "client",
            env={name: value.replace(README_SERVER, server.url) for name, value in exports(text).items()},
        )
        steps = {" ".join(argv[:2]): argv for argv in flow}
        email = steps["auth register"][steps["auth register"].index("--email") + 1]
        machine.ok(steps["auth register"], stdin=f"{PASSWORD}\n{PASSWORD}\n")
        mail = server.mails_to(email)[-1].get_content()  # as a mail reader shows it
        token = server.outbox_token(email)
        assert f"manimagent auth verify-email {token} --server {server.url}" in mail
        machine.ok([token if word == "TOKEN" else word for word in steps["auth verify-email"]])
        login = machine.ok(steps["auth login"], stdin=PASSWORD + "\n")
        secrets = machine.home / "secrets.json"
        assert "No keyring on this machine" in login.stderr
        assert mode(secrets) == 0o600 and "manimagent-server" in json.loads(secrets.read_text())
        assert mode(server.home / SECRET_FILE_NAME) == 0o600  # the server's signing secret, keyring-less
        generated = json.loads(machine.ok(steps["generate Animate a circle"]).stdout)
        local = Path(generated["output_path"])
        assert generated["success"] and local.is_file() and local.is_relative_to(machine.home)
        assert machine.ok(steps["scripts list"]).stdout.count("successful") == 1
        assert machine.nothing_opened()
    finally:
        server.stop()


def test_auth_register_without_terminal_or_stdin_says_how(tmp_path):
    machine = Machine(tmp_path)
    done = machine.run(["auth", "register", "--email", "new@example.com"])
    assert_one_line_error(_result(done), 2)
    assert "--password-stdin" in done.stderr and "interrupted" not in done.stderr


# --- smaller things a newcomer trips over ---------------------------------------------------------


def test_render_of_a_file_that_is_not_python(tmp_path):
    machine = Machine(tmp_path)
    done = machine.run(["render", str(ROOT / "README.md")])
    assert_one_line_error(_result(done), 2)
    assert "not a Python file" in done.stderr


def test_a_refused_script_is_not_announced_as_rendering(tmp_path):
    machine = Machine(tmp_path)
    script = machine.cwd / "bad.py"
    script.write_text(
        "from manim import *\nimport subprocess\n\nclass A(Scene):\n    def construct(self):\n"
        "        subprocess.run(['ls'])\n"
    )
    done = machine.run(["render", str(script)])
    assert done.returncode == 2 and "refused" in done.stderr
    assert "Rendering" not in done.stderr


def test_an_offline_prompt_no_recipe_matches_says_so(tmp_path):
    machine = Machine(tmp_path)
    done = machine.ok(["generate", "Anime un cercle rouge qui grandit", "--no-execute"])
    assert "No offline recipe matches this prompt" in done.stderr


def test_config_show_names_the_config_toml_keys(tmp_path):
    machine = Machine(tmp_path)
    rows = {row["name"]: row for row in json.loads(machine.ok(["config", "show", "--json"]).stdout)}
    assert (
        rows["quality"]["key"] == "render.quality"
        and rows["render_timeout"]["env"] == "MANIMAGENT_RENDER_TIMEOUT"
    )
    table = machine.ok(["config", "show"]).stdout
    assert re.search(r"quality\s+│\s+render\.quality", table), table


def test_containers_rm_without_terminal_needs_yes_as_the_readme_says(tmp_path):
    machine = Machine(tmp_path)
    assert ["containers", "rm", "studio", "--yes"] in commands(section("Render in Docker"))
    done = machine.run(["containers", "rm", "studio"])
    assert done.returncode == 2 and "--yes" in done.stderr


def test_doctor_columns_line_up(tmp_path):
    machine = Machine(tmp_path)
    lines = [line for line in machine.run(["doctor"]).stdout.splitlines() if line.strip()]
    names = {re.match(r"^(ok|missing|warning)\s+", line).end() for line in lines if not line.startswith(" ")}
    details = {re.match(r"^(\S+\s+\S+(?: \S+)*?|\s+fix:)\s{2,}", line).end() for line in lines}
    assert len(names) == 1 and len(details) == 1, lines


def test_the_readme_quotes_the_bench_with_its_spread():
    text = section("Render a file you already have")
    assert "bench/bench_cli.py" in text
    assert re.search(r"\d\.\d\d×.*\d\.\d\d.\d\.\d\d", text, re.S), "quote the ratio with its range"


def _result(done: subprocess.CompletedProcess[str]):
    from conftest import CliResult

    return CliResult(done.returncode, done.stdout, done.stderr)


# --- the pieces underneath ---------------------------------------------------------------------


def test_a_zombie_counts_as_gone():
    """In a container whose PID 1 reaps nothing, a dead child stays a zombie: kill(pid, 0) still
    succeeds on it, /proc says Z."""
    from manimagent.render.process import process_gone as gone

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not _zombie(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _zombie(child.pid)
    os.kill(child.pid, 0)  # the signal test alone would call it alive
    assert gone(child.pid) and process_gone(child.pid, 1)
    child.wait()
    assert gone(child.pid)
    assert not gone(os.getpid())


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def test_progress_shows_n_of_n_the_overall_fraction_and_the_time_left():
    from manimagent.cli.progress import RenderClock, overall_fraction, progress_label
    from manimagent.events import RenderProgress
    from manimagent.render.logparse import ProgressTracker, count_animations

    code = (ROOT / "examples" / "two_scenes.py").read_text()
    assert count_animations(code, ["TitleCard", "DotPath"]) == {"TitleCard": 2, "DotPath": 2}
    looped = (
        "from manim import *\nclass A(Scene):\n    def construct(self):\n        for _ in range(3):\n"
        "            self.play(Create(Dot()))\n"
    )
    assert count_animations(looped, ["A"]) == {}  # unknown: no N is shown

    events = []
    tracker = ProgressTracker(["TitleCard", "DotPath"], events.append, code=code)
    tracker.feed("Animation 1: Write(Text('Hi')):  50%|█████     | 5/10")
    (event,) = events
    assert (event.total, event.scene_index, event.scene_count) == (2, 0, 2)
    assert overall_fraction(event) == pytest.approx(0.375)

    clock = RenderClock()
    assert clock.eta(0.1, now=100.0) is None  # the first sight sets the pace's origin
    eta = clock.eta(0.375, now=111.0)
    assert eta == pytest.approx(11.0 / 0.275 * 0.625)
    label = progress_label(event, eta)
    assert label.startswith("Rendering TitleCard (scene 1 of 2): animation 2 of 2, 50%")
    assert "38% overall" in label and "s left" in label
    unknown = RenderProgress(scene="A", animation=0, percent=10)
    assert (
        progress_label(unknown, RenderClock().eta(overall_fraction(unknown)))
        == "Rendering A: animation 1, 10%"
    )


def test_secrets_file_is_created_0600_and_never_wider(tmp_path, monkeypatch):
    import keyring
    from keyring.backends import fail

    from manimagent import keys

    keyring.set_keyring(fail.Keyring())
    storage = keys.store_secret("svc", "user", "s3cret")
    path = Path(storage.detail)
    assert storage.kind == "file" and mode(path) == 0o600 and storage.notice
    path.chmod(0o644)
    keys.store_secret("svc", "other", "again")
    assert mode(path) == 0o600
    assert keys.get_secret("svc", "user") == ("s3cret", "file")
    keys.delete_secret("svc", "user")
    assert keys.get_secret("svc", "user") == (None, "none")


@pytest.fixture
def docker_engine():
    """A reachable engine, else a skip while setting up (which fails in CI: see conftest)."""
    from manimagent.errors import DockerUnavailable
    from manimagent.render.docker import connect

    try:
        return connect()
    except DockerUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc.one_line()}")


@pytest.mark.docker
def test_containers_build_from_a_missing_base_image_exits_3(tmp_path, docker_engine):
    """A base image the engine has not got and cannot pull is missing environment (exit 3)."""
    machine = Machine(tmp_path)
    done = machine.run(
        [
            "containers",
            "build",
            "--base-image",
            "manimagent-missing-base:nope",
            "--tag",
            "manimagent-never-built:test",
        ],
        timeout=900,
    )
    assert done.returncode == 3, done.stderr[-1500:]
    assert done.stderr.strip().splitlines()[-1].startswith("Error: the base image is missing")
