"""The docker engine against a real Docker engine: fresh and warm renders, hardening, hostile
scripts, concurrent jobs in one warm container, and the containers commands' errors.

Needs a Docker engine and builds `manimagent-render:test` once from `manimagent-base:bookworm`
(scripts/docker-base-image.sh) when it is missing; skips cleanly when either is unavailable.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, run_cli_process, video_duration

# The first test may build the image (minutes), and pytest-timeout counts fixture setup.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

TEST_IMAGE = "manimagent-render:test"
BASE_IMAGE = "manimagent-base:bookworm"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client():
    try:
        from manimagent.errors import DockerUnavailable
        from manimagent.render.docker import connect

        return connect()
    except DockerUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc.one_line()}")


@pytest.fixture(scope="session")
def render_image(docker_client) -> str:
    """The test image, built once through `manimagent containers build` when missing."""
    import docker

    try:
        docker_client.images.get(TEST_IMAGE)
        return TEST_IMAGE
    except docker.errors.ImageNotFound:
        pass
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"no {BASE_IMAGE}: run scripts/docker-base-image.sh")
    args = ["containers", "build", "--base-image", BASE_IMAGE, "--tag", TEST_IMAGE]
    if Path(HOST_CA_BUNDLE).is_file():
        args += ["--ca-bundle", HOST_CA_BUNDLE]
    done = subprocess.run(
        [sys.executable, "-m", "manimagent", *args], capture_output=True, text=True, timeout=3600, cwd=ROOT
    )
    if done.returncode != 0:
        pytest.fail(f"building {TEST_IMAGE} failed:\n{done.stderr[-3000:]}")
    return TEST_IMAGE


@pytest.fixture(scope="module")
def warm(docker_client, render_image):
    """A warm container shared by a module's engine tests (small limits so bombs hit them fast)."""
    from manimagent.render.docker import Limits, remove_quietly, start_warm_container

    suffix = uuid.uuid4().hex[:8]
    names = {"container_name": f"manimagent-test-{suffix}", "volume_name": f"manimagent-test-{suffix}-work"}
    limits = Limits(memory="768m", cpus=2.0, pids=128)
    container = start_warm_container(docker_client, label="test", image=render_image, limits=limits, **names)
    yield container, limits
    remove_quietly(docker_client, names["container_name"], names["volume_name"])


@pytest.fixture
def warm_engine(warm):
    from manimagent.render.docker import DockerEngine

    container, limits = warm
    return DockerEngine(
        image=container.image.tags[0], container_name="test", docker_ref=container.id, limits=limits
    )


@pytest.fixture
def fresh_engine(render_image):
    from manimagent.render.docker import DockerEngine, Limits

    return DockerEngine(image=render_image, limits=Limits(memory="768m", cpus=2.0, pids=128))


@pytest.fixture
def container_row(render_image):
    """A Container named `box` in this test's home, started warm; removed afterwards."""
    added = run_cli_process("containers", "add", "box", "--image", render_image, "--memory", "1g", "--json")
    assert added.code == 0, added.stderr
    started = run_cli_process("containers", "start", "box", "--json")
    assert started.code == 0, started.stderr
    yield started.json()
    run_cli_process("containers", "rm", "box", "--yes")


# --- helpers -------------------------------------------------------------------------------------


def scene_code(body: str, name: str = "Probe") -> str:
    """A scene whose construct runs `body`, then plays one short animation."""
    return (
        "from manim import *\nimport os, sys, glob, time\n\n"
        f"class {name}(Scene):\n    def construct(self):\n"
        + textwrap.indent(textwrap.dedent(body).strip() or "pass", " " * 8)
        + "\n        self.play(Create(Circle()), run_time=0.2)\n"
    )


def render(engine, code: str, tmp_path: Path, *, scene: str = "Probe", timeout: float = 120.0):
    from manimagent.render.base import RenderRequest

    staging = tmp_path / f"staging-{uuid.uuid4().hex[:6]}"
    return engine.render(RenderRequest(code=code, scenes=[scene], timeout=timeout), staging)


def assert_valid_video(path: Path) -> None:
    import av

    assert path.is_file() and path.stat().st_size > 1000, path
    assert video_duration(path) > 0.1
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 0


def assert_healthy(engine, tmp_path: Path) -> None:
    result = render(engine, scene_code("pass", "Healthy"), tmp_path, scene="Healthy")
    assert result.ok, result.log[-2000:]
    assert_valid_video(result.outputs[0])


# --- renders -------------------------------------------------------------------------------------


def test_fresh_container_render_makes_a_valid_video(fresh_engine, tmp_path):
    result = render(fresh_engine, scene_code("self.add(Square())"), tmp_path)
    assert result.ok, result.log[-2000:]
    assert [path.name for path in result.outputs] == ["Probe.mp4"]
    assert_valid_video(result.outputs[0])
    assert "fresh container" in result.log


def test_warm_container_render_makes_a_valid_video_with_latex(warm_engine, tmp_path):
    result = render(warm_engine, scene_code('self.add(MathTex(r"\\frac{a}{b}"))'), tmp_path)
    assert result.ok, result.log[-2000:]
    assert_valid_video(result.outputs[0])
    assert "preloaded" in result.log


def test_render_cli_with_a_started_container_records_engine_and_container(container_row, isolated_home):
    assert container_row["is_running"] is True
    done = run_cli_process(
        "render", str(ROOT / "examples" / "circle.py"), "--engine", "docker", "--container", "box", "--json"
    )
    assert done.code == 0, done.stderr
    document = done.json()
    assert document["success"] is True
    output = Path(document["output_path"])
    assert output.is_relative_to(isolated_home / "media")
    assert_valid_video(output)
    executions = run_cli_process("executions", "list", "--json").json()
    assert [(row["engine"], row["container"], row["status"]) for row in executions] == [
        ("docker", "box", "succeeded")
    ]


def test_warm_container_is_hardened(container_row, docker_client):
    attrs = docker_client.api.inspect_container(container_row["docker_id"])
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert any(option.startswith("no-new-privileges") for option in host["SecurityOpt"])
    assert host["Memory"] == 1 << 30 and host["MemorySwap"] == 1 << 30
    assert host["PidsLimit"] == 256
    assert host["NanoCpus"] == 2_000_000_000
    assert attrs["Config"]["User"] == "1000:1000"
    assert not host.get("Binds") and all(mount["Type"] != "bind" for mount in attrs["Mounts"])
    assert "/tmp" in host["Tmpfs"]
    user = (
        docker_client.containers.get(container_row["docker_id"])
        .exec_run(["id", "-u"], user="1000:1000")
        .output
    )
    assert user.strip() == b"1000"


# --- hostile scripts -----------------------------------------------------------------------------


def test_network_is_unreachable(warm_engine, tmp_path):
    code = scene_code("import urllib.request\nurllib.request.urlopen('http://1.1.1.1', timeout=5)")
    result = render(warm_engine, code, tmp_path)
    assert not result.ok
    assert result.failure.error_type == "URLError"
    assert "unreachable" in result.failure.message.lower() or "resolution" in result.failure.message.lower()
    assert_healthy(warm_engine, tmp_path)


def test_writing_outside_the_job_folder_fails(warm_engine, tmp_path):
    body = """
    written = []
    targets = ["/etc/evil", "/opt/manim/evil", "/usr/evil", "/work/evil", "/work/agent/agent.py"]
    for path in targets + ["/home/evil"]:
        try:
            with open(path, "a") as handle:
                handle.write("x")
            written.append(path)
        except OSError:
            pass
    raise RuntimeError(f"written outside the job folder: {written}")
    """
    result = render(warm_engine, scene_code(body), tmp_path)
    assert not result.ok
    assert result.failure.summary().startswith("RuntimeError: written outside the job folder: []"), (
        result.failure.summary()
    )
    assert_healthy(warm_engine, tmp_path)


def test_host_files_are_not_visible(warm_engine, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET")
    body = f"""
    seen = []
    for path in [{str(secret)!r}, "/etc/shadow", "/proc/1/environ", {str(ROOT / "pyproject.toml")!r}]:
        try:
            with open(path, "rb") as handle:
                seen.append((path, handle.read(40)))
        except OSError:
            pass
    for folder in ["/proc/1/cwd", "/proc/1/root", {str(tmp_path)!r}]:
        try:
            seen.append((folder, os.listdir(folder)))
        except OSError:
            pass
    raise RuntimeError(f"readable: {{seen}}")
    """
    result = render(warm_engine, scene_code(body), tmp_path)
    assert not result.ok
    assert result.failure.summary().startswith("RuntimeError: readable: []"), result.failure.summary()
    assert "HOST-SECRET" not in result.log


def test_endless_loop_is_killed_at_the_timeout(warm_engine, tmp_path):
    started = time.monotonic()
    result = render(warm_engine, scene_code("while True:\n    pass"), tmp_path, timeout=3)
    assert not result.ok
    assert result.failure.killed == "timeout"
    assert "3 s" in result.failure.message
    assert time.monotonic() - started < 15
    assert_healthy(warm_engine, tmp_path)


def test_fork_bomb_is_contained(warm_engine, tmp_path):
    body = """
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    result = render(warm_engine, scene_code(body), tmp_path, timeout=5)
    assert not result.ok
    assert result.failure.killed == "timeout"
    assert_healthy(warm_engine, tmp_path)


def test_memory_bomb_is_killed_for_memory(warm_engine, tmp_path):
    result = render(warm_engine, scene_code("hoard = b'x' * (2 << 30)"), tmp_path, timeout=60)
    assert not result.ok
    if result.failure.error_type == "MemoryError" and result.failure.killed is None:
        pytest.skip("the allocation failed up front (MemoryError) instead of reaching the cgroup limit")
    assert result.failure.killed == "memory", result.failure
    assert "768m" in result.failure.message
    assert_healthy(warm_engine, tmp_path)


def test_memory_bomb_in_a_fresh_container(fresh_engine, tmp_path):
    result = render(fresh_engine, scene_code("hoard = b'x' * (2 << 30)"), tmp_path, timeout=60)
    assert not result.ok
    assert result.failure.killed == "memory", result.failure


def test_a_detached_process_does_not_outlive_its_job(warm, warm_engine, tmp_path):
    body = """
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            print(f"DAEMON {os.getpid()}", flush=True)
            time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    """
    result = render(warm_engine, scene_code(body), tmp_path)
    assert result.ok, result.log[-2000:]
    pid = int(result.log.split("DAEMON ")[1].split()[0])
    time.sleep(1.5)
    container, _limits = warm
    assert container.exec_run(["test", "-e", f"/proc/{pid}"], user="1000:1000").exit_code == 1
    assert_healthy(warm_engine, tmp_path)


def test_a_job_cannot_stop_the_worker(warm, warm_engine, tmp_path):
    body = """
    import signal
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL):
        try:
            os.kill(1, number)
        except OSError:
            pass
    time.sleep(0.3)
    """
    assert render(warm_engine, scene_code(body), tmp_path).ok
    container, _limits = warm
    container.reload()
    assert container.status == "running"
    assert_healthy(warm_engine, tmp_path)
    assert "preloaded" in render(warm_engine, scene_code("pass"), tmp_path).log.splitlines()[0]


# --- two jobs at once ----------------------------------------------------------------------------

SNOOP = """
found = []
def look(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if b"TOPSECRET" in data or b"/work/jobs/" in data:
            found.append(path)
    except OSError:
        pass
try:
    found.append(("listed", os.listdir("/work/jobs")))
except OSError:
    pass
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    for name in ("environ", "cmdline"):
        look(f"/proc/{pid}/{name}")
    try:
        for entry in os.listdir(f"/proc/{pid}/cwd"):
            look(f"/proc/{pid}/cwd/{entry}")
    except OSError:
        pass
for pattern in ("/work/jobs/*/*", "/tmp/*", "/dev/shm/*"):
    for path in glob.glob(pattern):
        look(path)
if found:
    raise RuntimeError(f"saw another job: {found}")
"""


def test_two_renders_at_once_do_not_see_each_other(warm_engine, tmp_path):
    holder = scene_code("open('secret.txt', 'w').write('TOPSECRET')\ntime.sleep(4)", "Holder")
    results = {}
    thread = threading.Thread(
        target=lambda: results.update(holder=render(warm_engine, holder, tmp_path, scene="Holder"))
    )
    thread.start()
    time.sleep(2.0)
    results["snoop"] = render(warm_engine, scene_code(SNOOP, "Snoop"), tmp_path, scene="Snoop")
    thread.join()
    assert results["snoop"].ok, results["snoop"].failure
    assert results["holder"].ok, results["holder"].log[-2000:]
    assert [path.name for path in results["holder"].outputs] == ["Holder.mp4"]
    assert [path.name for path in results["snoop"].outputs] == ["Snoop.mp4"]
    assert "TOPSECRET" not in results["snoop"].log


def test_concurrent_renders_get_their_own_files(warm_engine, tmp_path):
    codes = {
        name: scene_code(
            (
                f"open('mine.txt', 'w').write({name!r})\ntime.sleep(1)\n"
                f"assert open('mine.txt').read() == {name!r}\nself.add(Text({name!r}))"
            ),
            name,
        )
        for name in ("Alpha", "Beta", "Gamma")
    }
    results = {}
    threads = [
        threading.Thread(
            target=lambda n=name: results.update({n: render(warm_engine, codes[n], tmp_path, scene=n)})
        )
        for name in codes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, result in results.items():
        assert result.ok, result.log[-2000:]
        assert [path.name for path in result.outputs] == [f"{name}.mp4"]
        assert_valid_video(result.outputs[0])


def test_job_folders_are_removed_afterwards(warm, warm_engine, tmp_path):
    assert render(warm_engine, scene_code("pass"), tmp_path).ok
    container, _limits = warm
    deadline = time.monotonic() + 5
    while (
        listing := container.exec_run(["ls", "-A", "/work/jobs"], user="0:0").output.decode().split()
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listing == []


def test_without_the_worker_renders_fall_back_to_plain_manim(docker_client, render_image, tmp_path):
    from manimagent.render import agent_host
    from manimagent.render.docker import (
        DockerEngine,
        Limits,
        create_work_volume,
        hardened_options,
        remove_quietly,
        work_mount,
    )

    suffix = uuid.uuid4().hex[:8]
    volume = create_work_volume(docker_client, f"manimagent-test-{suffix}-work", {})
    container = docker_client.containers.create(
        render_image,
        ["sleep", "infinity"],
        init=True,
        name=f"manimagent-test-{suffix}",
        mounts=[work_mount(volume.name)],
        **hardened_options(Limits()),
    )
    try:
        container.start()
        container.put_archive(agent_host.WORK_ROOT, agent_host.make_tar(agent_host.agent_entries()))
        engine = DockerEngine(image=render_image, docker_ref=container.id)
        result = render(engine, scene_code("pass"), tmp_path)
        assert result.ok, result.log[-2000:]
        assert "plain manim" in result.log
    finally:
        remove_quietly(docker_client, container.id, volume.name)


# --- the containers commands ---------------------------------------------------------------------


def test_container_removed_behind_our_back_is_not_running(container_row, docker_client, tmp_path):
    docker_client.containers.get(container_row["docker_id"]).remove(force=True)
    status = run_cli_process("containers", "check-status", "box", "--json")
    assert status.code == 0, status.stderr
    assert status.json()["is_running"] is False
    assert status.json()["status"] == "missing"
    listed = run_cli_process("containers", "list", "--json").json()
    assert listed[0]["is_running"] is False and listed[0]["last_checked_at"]
    done = run_cli_process(
        "render", str(ROOT / "examples" / "circle.py"), "--engine", "docker", "--container", "box", "--json"
    )
    assert done.code == 0, done.stderr  # a fresh container stands in


def test_stop_then_check_status(container_row):
    stopped = run_cli_process("containers", "stop", "box", "--json")
    assert stopped.code == 0 and stopped.json()["is_running"] is False
    status = run_cli_process("containers", "check-status", "box", "--json")
    assert status.json()["is_running"] is False


def test_hostile_script_through_the_cli_leaves_a_healthy_database(container_row, tmp_path):
    bomb = tmp_path / "bomb.py"
    bomb.write_text(scene_code("hoard = b'x' * (3 << 30)", "Bomb"))
    done = run_cli_process("render", str(bomb), "--engine", "docker", "--container", "box", "--json")
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.json()["success"] is False
    assert "memory" in done.json()["error"].lower()
    again = run_cli_process(
        "render", str(ROOT / "examples" / "circle.py"), "--engine", "docker", "--container", "box", "--json"
    )
    assert again.code == 0, again.stderr
    rows = run_cli_process("executions", "list", "--json").json()
    assert sorted(row["status"] for row in rows) == ["failed", "succeeded"]
    assert all(row["container"] == "box" for row in rows)


def test_interrupting_a_warm_render_stops_its_job(container_row, docker_client, tmp_path):
    import signal

    from manimagent.render.docker import agent_state

    sleepy = tmp_path / "sleepy.py"
    sleepy.write_text(scene_code("time.sleep(120)", "Sleepy"))
    command = [
        sys.executable,
        "-m",
        "manimagent",
        "render",
        str(sleepy),
        "--engine",
        "docker",
        "--container",
        "box",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    container = docker_client.containers.get(container_row["docker_id"])
    deadline = time.monotonic() + 30
    while (agent_state(container) or {}).get("jobs") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert agent_state(container)["jobs"] == 1
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while (agent_state(container) or {}).get("jobs") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert agent_state(container)["jobs"] == 0
    rows = run_cli_process("executions", "list", "--json").json()
    assert [row["status"] for row in rows] == ["interrupted"]


def test_docker_unreachable_is_exit_3(render_image):
    assert run_cli_process("containers", "add", "box", "--image", render_image).code == 0
    env = {"DOCKER_HOST": "unix:///nonexistent"}
    for args in (
        ["containers", "start", "box"],
        ["containers", "check-status", "box"],
        ["render", str(ROOT / "examples" / "circle.py"), "--engine", "docker", "--container", "box"],
    ):
        done = run_cli_process(*args, env=env)
        assert_one_line_error(done, 3)
        assert "DOCKER_HOST" in done.stderr


def test_unknown_container_is_exit_2(docker_client):
    for args in (
        ["containers", "check-status", "nope"],
        ["containers", "start", "nope"],
        ["render", str(ROOT / "examples" / "circle.py"), "--engine", "docker", "--container", "nope"],
    ):
        done = run_cli_process(*args)
        assert_one_line_error(done, 2)
        assert "containers list" in done.stderr


def test_missing_image_is_exit_3_with_the_fix(docker_client):
    assert run_cli_process("containers", "add", "box", "--image", "manimagent-render:missing-tag").code == 0
    done = run_cli_process("containers", "start", "box")
    assert_one_line_error(done, 3)
    assert "manimagent containers build" in done.stderr


def test_name_clash_and_rm_confirmation(render_image):
    assert run_cli_process("containers", "add", "box", "--image", render_image).code == 0
    assert_one_line_error(run_cli_process("containers", "add", "box"), 2)
    assert_one_line_error(run_cli_process("containers", "rm", "box"), 2)  # no terminal, no --yes
    assert run_cli_process("containers", "rm", "box", "--yes").code == 0
    assert run_cli_process("containers", "list", "--json").json() == []


def test_doctor_reports_docker_and_images(render_image):
    from manimagent.services.containers import doctor_checks

    checks = {check.name: check for check in doctor_checks()}
    assert checks["docker"].ok
    assert render_image in checks["docker images"].detail


def test_doctor_without_docker(monkeypatch):
    from manimagent.services.containers import doctor_checks

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    checks = doctor_checks()
    assert [(check.name, check.ok, check.required) for check in checks] == [("docker", False, False)]


def test_forbidden_for_non_admins(render_image):
    from manimagent.context import local_context
    from manimagent.errors import Forbidden
    from manimagent.services.containers import add_container, start_container

    ctx = local_context()
    add_container(ctx, name="box", image=render_image)
    ctx.is_admin = False
    with pytest.raises(Forbidden):
        start_container(ctx, ref="box")


def test_a_fresh_container_left_by_a_killed_render_is_swept(render_image, docker_client, tmp_path):
    """SIGKILL mid-render leaves the fresh container behind: it stops by itself, and a sweep
    (run before every fresh render) removes it with its volume once it has been stopped a while."""
    import os
    import signal

    import docker

    from manimagent.render.docker import FRESH_MARGIN, LABEL_ROLE, sweep_leftovers

    def job_containers() -> dict[str, object]:
        return {
            c.id: c for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_ROLE}=job"})
        }

    assert run_cli_process("containers", "add", "box", "--image", render_image).code == 0
    sleepy = tmp_path / "sleepy.py"
    sleepy.write_text(scene_code("time.sleep(120)", "Sleepy"))
    before = set(job_containers())
    command = [
        sys.executable,
        "-m",
        "manimagent",
        "render",
        str(sleepy),
        "--engine",
        "docker",
        "--container",
        "box",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not set(job_containers()) - before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the job is handed over
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    (leftover,) = [c for cid, c in job_containers().items() if cid not in before]
    leftover.reload()
    assert leftover.status == "running"
    assert leftover.attrs["Config"]["Cmd"] == ["sleep", str(int(300 + FRESH_MARGIN))]  # it stops by itself
    volume = next(m["Name"] for m in leftover.attrs["Mounts"] if m["Type"] == "volume")
    leftover.kill()  # what the end of its sleep does
    assert sweep_leftovers(docker_client) == 0  # recently stopped: may still be another render's
    assert docker_client.containers.get(leftover.id)
    assert sweep_leftovers(docker_client, older_than=0) >= 1
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(leftover.id)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume)
    run_cli_process("containers", "rm", "box", "--yes")
