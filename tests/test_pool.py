"""The warm local render pool: the render agent inside the sandbox, a contained child per job,
one agent per owner, and an agent that dies is replaced without losing its job's outcome."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLES, marked_processes, process_gone, video_duration
from manimagent.render.base import RenderRequest
from manimagent.render.local import LocalEngine
from manimagent.render.pool import POOL
from manimagent.render.sandbox import Limits, SandboxPolicy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("bwrap") and not os.environ.get("CI"), reason="needs bubblewrap"),
]
PRELUDE = (
    "from manim import *\nfrom manim.utils.module_ops import importlib as L\nG = L.import_module\n"
    "class Job(Scene):\n    def construct(self):\n"
)
CIRCLE = (EXAMPLES / "circle.py").read_text()


@pytest.fixture(autouse=True)
def fresh_pool():
    POOL.shutdown()
    yield
    POOL.shutdown()


def _scene(body: str) -> str:
    return PRELUDE + "".join(f"        {line}\n" for line in body.strip().splitlines())


def _render(engine: LocalEngine, code: str, scenes: list[str], timeout: float = 120.0, on_progress=None):
    return engine.render(
        RenderRequest(code=code, scenes=scenes, timeout=timeout), Path(tempfile.mkdtemp()), on_progress
    )


def test_jobs_render_in_the_sandboxed_agent_with_progress():
    engine = LocalEngine(pool_owner="alice")
    seen = []
    first = _render(engine, CIRCLE, ["CircleToSquare"], on_progress=seen.append)
    assert first.ok, first.log
    assert first.sandbox == "bwrap" and video_duration(first.outputs[0]) > 2.0
    assert any(getattr(event, "percent", None) is not None for event in seen)
    agent = POOL.agent_for("alice", engine.python, engine.policy)
    second = _render(engine, CIRCLE, ["CircleToSquare"])
    assert second.ok and POOL.agent_for("alice", engine.python, engine.policy) is agent  # the same warm agent
    assert "manim preloaded" in agent.log()


def test_owners_never_share_an_agent():
    alice = POOL.agent_for("alice", sys.executable, SandboxPolicy())
    bob = POOL.agent_for("bob", sys.executable, SandboxPolicy())
    assert alice is not bob and alice.process.process.pid != bob.process.process.pid
    assert alice.jobs != bob.jobs


def test_a_job_is_contained_like_a_single_render(tmp_path):
    marker = uuid.uuid4().hex[:10]
    os.environ["POOL_CANARY"] = f"canary-{marker}"
    try:
        engine = LocalEngine(pool_owner="mallory")
        body = (
            "o = G('os')\n"
            f"G('subprocess').Popen(['sh', '-c', 'sleep 600; :', '{marker}'], start_new_session=True)\n"
            "found = [repr(dict(o.environ))]\n"
            "for pid in [p for p in o.listdir('/proc') if p.isdigit()]:\n"
            "    try:\n"
            "        found.append(open('/proc/%s/environ' % pid, 'rb').read().decode('latin1'))\n"
            "    except OSError:\n"
            "        pass\n"
            "try:\n"
            "    G('socket').create_connection(('127.0.0.1', 22), timeout=2)\n"
            "except OSError as exc:\n"
            "    found.append(type(exc).__name__)\n"
            f"found.append(str(o.path.exists('{Path.home()}')))\n"
            "raise RuntimeError(' | '.join(found))"
        )
        result = _render(engine, _scene(body), ["Job"])
        assert not result.ok and result.sandbox == "bwrap"
        assert f"canary-{marker}" not in result.log
        assert "MANIMAGENT_AGENT_FD" not in result.log  # the job sees none of its agent's plumbing
        deadline = time.monotonic() + 20
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marked_processes(marker) == [], "a job's setsid child outlived it"
    finally:
        os.environ.pop("POOL_CANARY", None)


def test_each_job_has_its_own_limits():
    engine = LocalEngine(
        pool_owner="limits", policy=SandboxPolicy(limits=Limits(memory=1 << 30, max_processes=64))
    )
    bomb = (
        "o = G('os')\ncount = 0\n"
        "try:\n    for _ in range(10000):\n        if o.fork() == 0:\n            G('time').sleep(60)\n"
        "            o._exit(0)\n        count += 1\n"
        "except OSError as exc:\n    raise RuntimeError('forks stopped after %d' % count)\n"
    )
    hog = "chunks = [bytearray(256 << 20) for _ in range(16)]\n"
    results = {}
    threads = [
        threading.Thread(
            target=lambda name, code: results.__setitem__(name, _render(engine, _scene(code), ["Job"])),
            args=args,
        )
        for args in (("bomb", bomb), ("hog", hog))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    message = results["bomb"].failure.message
    assert message.startswith("forks stopped after"), results["bomb"].log
    count = int(message.split()[3])
    assert count < 64
    assert results["hog"].failure is not None and results["hog"].failure.error_type == "MemoryError"
    ok = _render(engine, CIRCLE, ["CircleToSquare"])  # the agent is still fine for the next job
    assert ok.ok, ok.log


def test_a_job_past_its_time_limit_is_killed_and_the_agent_goes_on():
    engine = LocalEngine(pool_owner="slow")
    result = _render(engine, _scene("while True:\n    pass"), ["Job"], timeout=3)
    assert result.failure is not None and result.failure.error_type == "TimeoutError"
    assert _render(engine, CIRCLE, ["CircleToSquare"]).ok


def test_a_killed_agent_fails_its_job_and_is_replaced():
    engine = LocalEngine(pool_owner="victim")
    agent = POOL.agent_for("victim", engine.python, engine.policy)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault(
            "result", _render(engine, _scene("G('time').sleep(30)"), ["Job"], timeout=60)
        )
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not any(agent.jobs.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    os.killpg(agent.process.process.pid, signal.SIGKILL)
    thread.join(timeout=60)
    result = outcome["result"]
    assert not result.ok and result.failure.error_type == "WorkerLost"
    assert process_gone(agent.process.process.pid, within=10)
    again = _render(engine, CIRCLE, ["CircleToSquare"])
    assert again.ok and POOL.agent_for("victim", engine.python, engine.policy) is not agent


def test_cancel_kills_the_job():
    engine = LocalEngine(pool_owner="cancel")
    marker = uuid.uuid4().hex[:10]
    handle = engine.start(
        RenderRequest(
            code=_scene(
                f"G('subprocess').Popen(['sh', '-c', 'sleep 600; :', '{marker}'])\nwhile True:\n    pass"
            ),
            scenes=["Job"],
            timeout=120,
        ),
        Path(tempfile.mkdtemp()),
    )
    deadline = time.monotonic() + 60
    while not marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker)
    handle.cancel()
    deadline = time.monotonic() + 20
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []
