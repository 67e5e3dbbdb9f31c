"""Every test gets its own MANIMAGENT_HOME, NO_COLOR=1, no vendor keys, and a test keyring.

A new home introspects the installed manim once (a child process importing all of manim, about
2 s of CPU: scriptcheck/manim_api.py). Every home here starts with that document already in its
cache, introspected once per test session and hard-linked in (a cache is only ever replaced,
never edited in place). tests/test_grounding.py and tests/test_scriptcheck.py introspect for real
into folders of their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"
SCRUBBED_PREFIXES = ("MANIMAGENT_", "OPENAI_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_API", "ANTHROPIC_")

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


SKIP_DOCKER_ENV = "MANIMAGENT_SKIP_DOCKER"

from postgres_cluster import SKIP_POSTGRES_ENV, postgres_cluster, postgres_url  # noqa: E402,F401 - fixtures


def docker_skips_allowed() -> bool:
    """Outside CI a docker test may skip when there is no engine; in CI (`CI=true`) only on purpose."""
    if os.environ.get(SKIP_DOCKER_ENV) == "1":
        return True
    return os.environ.get("CI", "").lower() not in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """Tests send SIGINT to the processes they start (Ctrl-C). A shell without job control starts
    its background commands with SIGINT ignored, and an ignored signal stays ignored across exec:
    `manimagent` (rightly, like `nohup`) would then never see it. A handler here is reset to the
    default in every child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SKIP_DOCKER_ENV) != "1":
        return
    skip = pytest.mark.skip(reason=f"{SKIP_DOCKER_ENV}=1: docker tests skipped on purpose")
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI a docker test whose fixtures skip (no engine, no base image) fails: CI must not go
    green by skipping. Skips a test decides for itself while running stay skips."""
    report = yield
    if (
        report.when == "setup"
        and report.skipped
        and item.get_closest_marker("docker")
        and not docker_skips_allowed()
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"docker test could not run in CI ({reason}); start a Docker engine, or set "
            f"{SKIP_DOCKER_ENV}=1 on purpose"
        )
    if report.when == "setup" and report.skipped and _needs_postgres(item) and not postgres_skips_allowed():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"PostgreSQL test could not run in CI ({reason}); install postgresql, or set "
            f"{SKIP_POSTGRES_ENV}=1 on purpose"
        )
    return report


def postgres_skips_allowed() -> bool:
    """As for Docker: outside CI a PostgreSQL test may skip when there is no server; in CI only on purpose."""
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        return True
    return os.environ.get("CI", "").lower() not in ("true", "1", "yes")


def _needs_postgres(item: pytest.Item) -> bool:
    return item.get_closest_marker("postgres") is not None or "postgres_cluster" in getattr(
        item, "fixturenames", ()
    )


@pytest.fixture(scope="session")
def introspected_manim(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The installed manim's API document, introspected once for the whole session."""
    from manimagent.scriptcheck.manim_api import load_manim_api

    folder = tmp_path_factory.mktemp("manim-api")
    if load_manim_api(folder) is None:
        return None  # no manim here: each home finds that out itself
    [document] = folder.glob("manim-api-*.json")
    return document


@pytest.fixture(scope="session")
def api(introspected_manim: Path | None):
    """The installed manim's API (scriptcheck/manim_api.ManimApi), from the session's document."""
    import json

    from manimagent.scriptcheck.manim_api import ManimApi

    assert introspected_manim is not None, "manim is not installed"
    return ManimApi(json.loads(introspected_manim.read_text(encoding="utf-8")))


def _seed_manim_api(home: Path, document: Path | None) -> None:
    if document is None:
        return
    cache = home / "cache"
    cache.mkdir()
    try:
        os.link(document, cache / document.name)
    except OSError:
        import shutil

        shutil.copyfile(document, cache / document.name)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, introspected_manim: Path | None) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    _seed_manim_api(home, introspected_manim)
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MANIMAGENT_HOME", str(home))
    # Tests render the same example again and again: each renders unless it is about the cache
    # (those set MANIMAGENT_RENDER_CACHE=1 themselves; see tests/test_cache.py).
    monkeypatch.setenv("MANIMAGENT_RENDER_CACHE", "0")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.TestKeyring")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    )
    _use_test_keyring()
    yield home
    from manimagent.store.db import dispose_engines

    dispose_engines()


def _use_test_keyring() -> None:
    import keyring

    from file_keyring import TestKeyring

    keyring.set_keyring(TestKeyring())


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in this process: `cli("scripts", "list", "--json")` -> CliResult."""
    from manimagent.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_cli_process(
    *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> CliResult:
    """Run `python -m manimagent ARGS` in a real child process (end-to-end)."""
    data = input.encode() if isinstance(input, str) else input
    done = subprocess.run(
        [sys.executable, "-m", "manimagent", *args],
        input=data,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    return CliResult(
        done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    )


def assert_one_line_error(result: CliResult, code: int) -> None:
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert result.stdout.strip() == "" or result.stdout.lstrip().startswith(("{", "[")), result.stdout


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: no procps needed)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def process_gone(pid: int, within: float) -> bool:
    """Whether process `pid` is gone, a zombie counting as gone (or becomes so within `within` s)."""
    import time

    from manimagent.render.process import process_gone as gone

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.1)
    return gone(pid)


def marked_processes(marker: str) -> list[int]:
    """Live processes whose command line holds `marker` (a render's children are found this way:
    a sandboxed render writes nothing outside its job folder, and its own pids are its namespace's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes() and int(cmdline.parent.name) != os.getpid():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    from manimagent.render.process import process_gone as gone

    return [pid for pid in found if not gone(pid)]


def video_duration(path: str | Path) -> float:
    """The duration ffprobe reports (PyAV when ffprobe is missing)."""
    import shutil

    if shutil.which("ffprobe"):
        done = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "default=nw=1:nk=1",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip())
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000
