"""The OS sandbox of local renders, tried as an attacker would: a corpus of hostile scenes
(tests/hostile/) rendered through the real `manimagent render`, with canaries planted around.

Every scene reaches past the static policy (through manim's own importlib) and raises with what it
found, so anything it could read would land in the stored error or log, where the test looks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import (
    EXAMPLES,
    ROOT,
    TESTS,
    assert_one_line_error,
    marked_processes,
    run_cli_process,
    video_duration,
)
from manimagent.render import process, sandbox
from manimagent.render.jobdir import PREFIX, JobFolder, sweep_abandoned
from manimagent.render.sandbox import (
    Limits,
    SandboxMode,
    SandboxPolicy,
    bwrap_arguments,
    macos_profile,
    parse_size,
)

HOSTILE = TESTS / "hostile"
SCENES = sorted(path.stem for path in HOSTILE.glob("*.py"))
HAS_BWRAP = bool(shutil.which("bwrap")) and process.probe(sys.executable, SandboxPolicy()).kind == "bwrap"
needs_bwrap = pytest.mark.skipif(
    not HAS_BWRAP and not os.environ.get("CI"),
    reason="bubblewrap cannot run here (scripts/setup.sh installs it)",
)


# ---------------------------------------------------------------- unit: the policy as data


def test_sizes_parse_and_bad_ones_are_config_errors():
    assert (
        parse_size("4GiB", "m") == 4 << 30
        and parse_size("512M", "m") == 512 << 20
        and parse_size(1000, "m") == 1000
    )
    assert parse_size("none", "m") == 0 and parse_size("1.5g", "m") == int(1.5 * (1 << 30))
    for bad in ("lots", "4 parsecs", True, "-1G"):
        with pytest.raises(Exception) as caught:
            parse_size(bad, "render.memory")
        assert "render.memory" in str(caught.value)


def test_limits_become_rlimits_and_zero_means_none():
    assert Limits().rlimits() == {
        "RLIMIT_CORE": 0,
        "RLIMIT_AS": 4 << 30,
        "RLIMIT_NPROC": 256,
        "RLIMIT_FSIZE": 2 << 30,
        "RLIMIT_NOFILE": 1024,
    }
    assert "RLIMIT_AS" not in Limits(memory=0).rlimits()


def test_bwrap_arguments_unshare_everything_and_bind_read_only(tmp_path):
    args = bwrap_arguments("bwrap", tmp_path, sys.executable, as_root=False)
    for flag in (
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in args
    writable = [args[i + 1] for i, arg in enumerate(args) if arg == "--bind"]
    assert writable == [str(tmp_path / "tmp"), str(tmp_path)]  # the job folder and its tmp/, nothing else
    assert args[-2:] == ["--remount-ro", "/"]
    read_only = [args[i + 1] for i, arg in enumerate(args) if arg == "--ro-bind"]
    assert str(Path.home()) not in read_only and "/etc" not in read_only and "/home" not in read_only
    as_root = bwrap_arguments("bwrap", tmp_path, sys.executable, as_root=True)
    assert "--unshare-user" not in as_root and as_root.count("--cap-add") == 2  # only to become nobody


def test_the_render_never_sees_manimagents_own_source_or_pythonpath(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    paths = [str(path) for path in sandbox.readable_paths(sys.executable)]
    assert str(tmp_path) not in paths
    source = Path(sandbox.__file__).resolve().parents[2]
    if not any(source.is_relative_to(Path(prefix).resolve()) for prefix in (sys.prefix, sys.base_prefix)):
        assert str(source) not in paths  # an editable install's src/ stays out


def test_macos_profile_denies_network_and_writes_outside_the_job(tmp_path):
    profile = macos_profile(tmp_path, sys.executable)
    lines = profile.splitlines()
    assert lines[:3] == ["(version 1)", "(deny default)", "(deny network*)"]
    writes = [line for line in lines if line.startswith("(allow file-write*")]
    assert writes == [f'(allow file-write* (subpath "{tmp_path}") (literal "/dev/null"))']
    assert not any("network" in line for line in lines if line.startswith("(allow"))
    reads = next(line for line in lines if line.startswith("(allow file-read*"))
    assert (
        f'(subpath "{sys.base_prefix}")' in reads
        and '"/Library/TeX"' in reads
        and str(Path.home()) + '"' not in reads
    )


def test_policy_from_settings_and_serve_strictness():
    from manimagent.settings import load_settings

    settings = load_settings()
    assert sandbox.policy_from_settings(settings).mode is SandboxMode.AUTO
    settings.values[sandbox.REQUIRE_SANDBOX] = True
    assert sandbox.policy_from_settings(settings).mode is SandboxMode.BWRAP  # serve never falls back
    settings.values["render_sandbox"] = "none"
    with pytest.raises(Exception, match="serve does not run local renders"):
        sandbox.policy_from_settings(settings)
    settings.values["render_sandbox"] = "chroot"
    with pytest.raises(Exception, match="auto, bwrap or none"):
        sandbox.policy_from_settings(settings)


def test_job_folders_of_dead_owners_are_swept_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    live = JobFolder()
    dead = tmp_path / f"{PREFIX}dead"
    (dead / "work" / "media").mkdir(parents=True)
    (dead / ".lock").write_text("")
    (dead / "work" / "media" / "partial.mp4").write_bytes(b"x" * 100)
    old = time.time() - 3600
    for folder in (live.root, dead):
        os.utime(folder, (old, old))
    assert sweep_abandoned() == [dead]
    assert live.root.exists() and not dead.exists()
    live.remove()


# ---------------------------------------------------------------- the hostile corpus, for real


class Canaries:
    """Secrets and places a render must not reach, and a check that none was reached."""

    def __init__(self, tmp_path: Path, manimagent_home: Path):
        self.token = uuid.uuid4().hex[:12]
        self.home = tmp_path / "user-home"
        (self.home / ".ssh").mkdir(parents=True)
        self.ssh_key = f"ssh-canary-{self.token}"
        (self.home / ".ssh" / "id_rsa").write_text(self.ssh_key)
        (self.home / ".bashrc").write_text("# bashrc canary\n")
        self.host_tmp = tmp_path / "host-tmp"
        self.host_tmp.mkdir()
        self.mhome = manimagent_home
        self.secret = f"secret-canary-{self.token}"
        self.api_key = f"sk-canary-{self.token}"
        self.hits: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(self.host_tmp / f"canary-{self.token}.sock"))
        self.unix.listen()
        for server in (self.tcp, self.unix):
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.hits.append(conn.recv(100) or b"(connected)")
            conn.close()

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "TMPDIR": str(self.host_tmp),
            "MANIMAGENT_SECRET_KEY": self.secret,
            "OPENAI_API_KEY": self.api_key,
            "CANARY_TOKEN": self.token,
        }

    def scene(self, name: str, folder: Path) -> Path:
        text = (HOSTILE / f"{name}.py").read_text()
        for key, value in {
            "TOKEN": self.token,
            "PORT": str(self.port),
            "HOME": str(self.home),
            "MHOME": str(self.mhome),
            "HOSTTMP": str(self.host_tmp),
        }.items():
            text = text.replace("{{" + key + "}}", value)
        path = folder / f"{name}.py"
        path.write_text(text)
        return path

    def secrets(self) -> list[str]:
        return [
            self.secret,
            self.api_key,
            self.ssh_key,
            (self.mhome / "secret_key").read_text().strip()
            if (self.mhome / "secret_key").exists()
            else self.secret,
        ]

    def assert_untouched(self, seen: str = "") -> None:
        for secret in self.secrets():
            assert secret not in seen, f"a render read a secret: {secret}"
        assert self.hits == [], f"a render reached a loopback listener: {self.hits}"
        assert (self.home / ".bashrc").read_text() == "# bashrc canary\n"
        pwned = [
            path
            for root in (self.host_tmp, self.home, Path("/tmp"), Path("/usr"), Path(sys.prefix))
            for path in root.glob(f"*{self.token}*")
            if not path.name.startswith("canary-")
        ]
        pwned += list(Path(sys.prefix).rglob(f"pwned_{self.token}.pth"))
        assert pwned == [], f"a render wrote outside its job folder: {pwned}"
        assert _processes_with(self.token) == [], "a process of a render outlived it"

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()


def _processes_with(marker: str) -> list[int]:
    """Processes holding `marker`, given a few seconds to go."""
    deadline = time.monotonic() + 5
    while (found := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _seed_store(cli) -> tuple[str, str]:
    doc = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()
    return doc["id"], doc["content"]


def _db_rows(home: Path, table: str) -> list[tuple]:
    return sqlite3.connect(home / "manimagent.db").execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def _render_hostile(canaries: Canaries, name: str, folder: Path, extra_env: dict[str, str] | None = None):
    path = canaries.scene(name, folder)
    result = run_cli_process(
        "render",
        str(path),
        "--max-attempts",
        "1",
        "--json",
        env={**canaries.env(), **(extra_env or {})},
        timeout=240,
    )
    return name, result


@needs_bwrap
@pytest.mark.slow
def test_the_hostile_corpus_is_contained_with_default_settings(cli, tmp_path, isolated_home):
    assert len(SCENES) >= 30
    canaries = Canaries(tmp_path, isolated_home)
    seeded_id, seeded_content = _seed_store(cli)
    (isolated_home / "secret_key").write_text(f"stored-secret-{canaries.token}")
    os.chmod(isolated_home / "secret_key", 0o600)
    folder = tmp_path / "scenes"
    folder.mkdir()
    users_before = _db_rows(isolated_home, "user")
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda name: _render_hostile(canaries, name, folder), SCENES))
        rows = {row["script"]: row for row in cli("executions", "list", "--json").json()}
        seen = ""
        for name, result in results:
            assert_one_line_error(result, 1)
            doc = result.json()
            assert doc["success"] is False and doc["error"], name
            execution = cli("executions", "show", doc["execution_id"], "--log", "--json").json()
            assert execution["status"] == "failed" and execution["error"], name
            assert execution["sandbox"] == "bwrap" or execution["error_type"] == "PolicyViolation", (
                name,
                execution["sandbox"],
            )
            seen += result.stdout + result.stderr + execution["log"] + execution["error"]
        assert len(rows) == len(SCENES) + 1 or len(rows) >= len(SCENES)
        canaries.assert_untouched(seen)
        with open("/etc/shadow") as shadow:
            first = shadow.readline().strip()
        assert first not in seen
        assert "pwned" not in cli("scripts", "show", seeded_id, "--json").json()["content"]
        assert cli("scripts", "show", seeded_id, "--json").json()["content"] == seeded_content
        assert _db_rows(isolated_home, "user") == users_before
        assert (isolated_home / "secret_key").read_text() == f"stored-secret-{canaries.token}"
        assert list(canaries.host_tmp.glob(f"{PREFIX}*")) == [], "job folders were left behind"
        errors = {name: result.json()["error"] for name, result in results}
        assert "MemoryError" in errors["memory_hog"]
        assert "forks stopped" in errors["fork_bomb"]
        # its parent is the namespace's pid 1, which it may not signal or which ignores it
        assert (
            "parent survived" in errors["kill_parent"] or "Operation not permitted" in errors["kill_parent"]
        )
    finally:
        canaries.close()


@needs_bwrap
@pytest.mark.slow
def test_memory_and_output_caps_stop_a_render(tmp_path, isolated_home):
    canaries = Canaries(tmp_path, isolated_home)
    (isolated_home / "config.toml").write_text('[render]\nmemory = "1GiB"\nmax_output = "64MiB"\n')
    folder = tmp_path / "scenes"
    folder.mkdir()
    try:
        for name, expected in (
            ("memory_hog", "MemoryError"),
            ("disk_filler", "OutputLimitError"),
            ("tmp_filler", "OutputLimitError"),
            ("one_huge_file", ""),
        ):
            _, result = _render_hostile(canaries, name, folder)
            assert_one_line_error(result, 1)
            assert expected in result.json()["error"], (name, result.json()["error"])
            assert not result.json()["error"].startswith("RuntimeError"), result.json()[
                "error"
            ]  # the scene never finished
        canaries.assert_untouched()
        assert list(canaries.host_tmp.glob(f"{PREFIX}*")) == []
    finally:
        canaries.close()


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("example", ["circle.py", "equation.py", "two_scenes.py"])
def test_real_scenes_render_inside_the_sandbox(cli, example):
    if example == "equation.py" and not shutil.which("latex"):
        pytest.skip("no LaTeX")
    doc = cli("render", str(EXAMPLES / example), "--json").json()
    assert doc["success"] is True, doc
    assert video_duration(doc["output_path"]) > 0.5
    execution = cli("executions", "show", doc["execution_id"], "--json").json()
    assert execution["sandbox"] == "bwrap"


@needs_bwrap
@pytest.mark.slow
def test_a_three_d_scene_with_text_renders_inside_the_sandbox(cli, tmp_path):
    scene = tmp_path / "three_d.py"
    scene.write_text(
        "from manim import *\n"
        "class Surface3D(ThreeDScene):\n"
        "    def construct(self):\n"
        "        self.set_camera_orientation(phi=60 * DEGREES, theta=30 * DEGREES)\n"
        "        surface = Surface(lambda u, v: np.array([u, v, np.sin(u) * np.cos(v)]),"
        " u_range=[-2, 2], v_range=[-2, 2], resolution=(8, 8))\n"
        "        self.add_fixed_in_frame_mobjects(Text('three d').to_corner(UL))\n"
        "        self.play(Create(surface), run_time=0.5)\n"
    )
    doc = cli("render", str(scene), "--json").json()
    assert doc["success"] is True, doc
    assert cli("executions", "show", doc["execution_id"], "--json").json()["sandbox"] == "bwrap"


@pytest.mark.slow
def test_auto_falls_back_to_limits_with_one_warning_when_bubblewrap_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()  # a PATH with no bwrap on it
    result = run_cli_process("render", str(EXAMPLES / "circle.py"), "--json", env={"PATH": str(bin_dir)})
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not sandboxed" in line]
    assert len(warnings) == 1 and "bubblewrap" in warnings[0] and "apt-get install bubblewrap" in warnings[0]
    execution = run_cli_process("executions", "show", result.json()["execution_id"], "--json").json()
    assert execution["sandbox"] == "rlimits"


@pytest.mark.slow
def test_auto_falls_back_when_bubblewrap_cannot_make_its_namespaces(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"  # what bwrap says where user namespaces are off
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'bwrap: No permissions to creating new namespace, likely because the kernel does not "
        "allow non-privileged user namespaces.' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    result = run_cli_process(
        "render", str(EXAMPLES / "circle.py"), "--json", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    )
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not sandboxed" in line]
    assert (
        len(warnings) == 1
        and "No permissions to creating new namespace" in warnings[0]
        and "user namespaces" in warnings[0]
    )
    doctor = run_cli_process("doctor", "--json", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"}).json()
    check = next(check for check in doctor["checks"] if check["name"] == "sandbox")
    assert check["ok"] is False and "namespace" in check["detail"]


@pytest.mark.slow
def test_sandbox_bwrap_refuses_to_render_without_bubblewrap(tmp_path, isolated_home):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    result = run_cli_process(
        "render",
        str(EXAMPLES / "circle.py"),
        "--json",
        env={"PATH": str(bin_dir), "MANIMAGENT_RENDER_SANDBOX": "bwrap"},
    )
    assert_one_line_error(result, 3)
    assert "sandbox" in result.stderr and "bubblewrap" in result.stderr


def test_a_bad_sandbox_setting_is_a_one_line_error(tmp_path):
    result = run_cli_process(
        "render", str(EXAMPLES / "circle.py"), env={"MANIMAGENT_RENDER_SANDBOX": "maybe"}
    )
    assert_one_line_error(result, 2)
    assert "render.sandbox must be auto, bwrap or none" in result.stderr


@needs_bwrap
def test_doctor_reports_the_active_sandbox():
    doc = run_cli_process("doctor", "--json").json()
    check = next(check for check in doc["checks"] if check["name"] == "sandbox")
    assert check["ok"] is True and check["detail"].startswith("bwrap")


@needs_bwrap
@pytest.mark.slow
def test_a_sigkilled_render_leaves_no_process_and_no_job_folder_after_the_next_command(tmp_path):
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    marker = uuid.uuid4().hex[:10]
    scene = tmp_path / "forever.py"
    scene.write_text(
        "from manim import *\nfrom manim.utils.module_ops import importlib as L\n"
        "class Forever(Scene):\n    def construct(self):\n"
        f"        L.import_module('subprocess').Popen(['sh', '-c', 'sleep 600; :', '{marker}'], "
        f"start_new_session=True)\n"
        "        self.add(Circle())\n        open('partial.bin', 'wb').write(b'x' * 1000)\n"
        "        while True:\n            pass\n"
    )
    env = {**os.environ, "TMPDIR": str(host_tmp)}
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "render", str(scene)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker), "the scene never started its child"
    assert list(host_tmp.glob(f"{PREFIX}*"))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _processes_with(marker) == [], "a process of the killed render is still running"
    folders = list(host_tmp.glob(f"{PREFIX}*"))
    old = time.time() - 3600
    for folder in folders:
        os.utime(folder, (old, old))
    result = run_cli_process("render", str(EXAMPLES / "circle.py"), "--json", env={"TMPDIR": str(host_tmp)})
    assert result.code == 0, result.stderr
    assert list(host_tmp.glob(f"{PREFIX}*")) == [], "the killed render's job folder was not swept"


# ---------------------------------------------------------------- as an unprivileged user


def _unprivileged_python(tmp_path: Path) -> list[str] | None:
    """An interpreter uid 65534 can run, with manim and manimagent importable: a venv of the
    system's Python whose .pth names this venv's packages (root's own interpreter may live where
    nobody else can read, e.g. under /root), or None when there is no such setup."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        return None
    venv = tmp_path / "nobody-venv"
    if (
        subprocess.run(
            [str(system), "-m", "venv", "--without-pip", str(venv)], capture_output=True
        ).returncode
        != 0
    ):
        return None
    site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    src = str(Path(sandbox.__file__).resolve().parents[2])
    purelib = next(venv.glob("lib/python*/site-packages"))
    (purelib / "manimagent-test.pth").write_text("\n".join([*site, src]) + "\n")
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        str(venv / "bin" / "python"),
    ]
    probe = subprocess.run(
        [*command, "-c", "import manimagent, manim"],
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"},
        capture_output=True,
    )
    return command if probe.returncode == 0 else None


@needs_bwrap
@pytest.mark.slow
def test_the_sandbox_holds_for_an_unprivileged_user(tmp_path_factory):
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="manimagent-nobody-"))  # pytest's own tmp is root's alone
    os.chmod(tmp_path, 0o755)
    command = _unprivileged_python(tmp_path)
    if command is None:
        pytest.skip(
            "no interpreter here that uid 65534 can run (needs root, setpriv, python3-venv and a "
            "readable checkout)"
        )
    home = tmp_path / "nobody-home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    canaries = Canaries(tmp_path, home)
    folder = tmp_path / "scenes"
    folder.mkdir()
    for path in (canaries.home, canaries.host_tmp, folder):
        shutil.chown(path, 65534, 65534)
    env = {
        **os.environ,
        **canaries.env(),
        "MANIMAGENT_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    doctor = subprocess.run(
        [*command, "-m", "manimagent", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    check = next(check for check in json.loads(doctor.stdout)["checks"] if check["name"] == "sandbox")
    if not check["detail"].startswith(
        "bwrap"
    ):  # e.g. a container that masks /proc: bwrap cannot mount one for this user
        pytest.skip(f"bubblewrap cannot run for an unprivileged user on this machine: {check['detail']}")
    seen = ""
    try:
        for name in (
            "env_parent",
            "proc_parent_environ",
            "home_ssh",
            "tcp_loopback",
            "write_tmp",
            "setsid_survivor",
            "fork_bomb",
            "kill_parent",
        ):
            path = canaries.scene(name, folder)
            done = subprocess.run(
                [*command, "-m", "manimagent", "render", str(path), "--max-attempts", "1", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
                cwd=tmp_path,
            )
            assert done.returncode == 1, (name, done.stderr)
            assert "Traceback" not in done.stderr
            doc = json.loads(done.stdout)
            assert doc["success"] is False, name
            seen += done.stdout + done.stderr
        errors = seen
        assert "forks stopped" in errors  # the process limit holds for an ordinary user too
        canaries.assert_untouched(seen)
        ok = subprocess.run(
            [*command, "-m", "manimagent", "render", str(EXAMPLES / "circle.py"), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
        )
        assert ok.returncode == 0, ok.stderr
        assert "not sandboxed" not in ok.stderr
    finally:
        canaries.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
