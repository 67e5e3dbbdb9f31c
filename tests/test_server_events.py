"""Progress over HTTP: GET /api/agents/executions/{id}/events/ streams a render's typed events as
Server-Sent Events (render_started, render_progress ..., then done with the result); a finished
execution replays its stored summary; `--server` renders draw the same progress as local ones."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import EXAMPLES
from server_fixtures import server  # noqa: F401 - fixture

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def alice(server):
    return server.account()


def _events(server, account, execution_id: str) -> list[dict]:
    """Every event of the stream, read over a real HTTP connection until the server closes it."""
    docs = []
    with httpx.stream(
        "GET",
        f"{server.url}/api/agents/executions/{execution_id}/events/",
        headers=account.headers,
        timeout=300,
    ) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in answer.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                doc = json.loads(line.split(":", 1)[1])
                assert doc["event"] == kind
                docs.append(doc)
    return docs


def _import(server, account) -> dict:
    return server.post(
        "/api/agents/scripts/import/",
        json={"code": (EXAMPLES / "circle.py").read_text()},
        headers=account.headers,
    ).json()


def test_a_queued_render_streams_render_progress_then_done(server, alice):
    script = _import(server, alice)
    queued = server.post(
        f"/api/agents/scripts/{script['id']}/execute/",
        json={"wait": False, "quality": "low"},
        headers=alice.headers,
    )
    assert queued.status_code == 202
    docs = _events(server, alice, queued.json()["execution_id"])
    kinds = [doc["event"] for doc in docs]
    assert kinds[0] == "render_started" and kinds[-1] == "done" and kinds.count("done") == 1
    progress = [doc for doc in docs if doc["event"] == "render_progress"]
    assert progress and all(doc["scene"] == "CircleToSquare" for doc in progress)
    assert kinds.index("render_progress") < kinds.index("done")
    done = docs[-1]
    assert done["success"] is True and done["result"]["execution_id"] == queued.json()["execution_id"]
    assert done["result"]["output_url"] and done["result"]["status"] == "successful"


def test_a_finished_execution_replays_and_closes(server, alice):
    script = _import(server, alice)
    result = server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"quality": "low"}, headers=alice.headers
    ).json()
    assert result["success"]
    replay = _events(server, alice, result["execution_id"])
    assert (
        replay[0]["event"] == "render_started"
        and replay[-1]["event"] == "done"
        and replay[-1]["success"] is True
    )
    row = server.db("SELECT id FROM execution WHERE id = :id", {"id": result["execution_id"]})
    assert row == [(result["execution_id"],)]
    (server.home / "events" / f"{result['execution_id']}.jsonl").unlink()  # no log left: the stored summary
    summary = _events(server, alice, result["execution_id"])
    assert [doc["event"] for doc in summary] == ["render_started", "done"] and summary[-1]["replayed"] is True


def test_a_failing_render_streams_render_failed_then_done(server, alice):
    code = (
        "from manim import *\nclass Boom(Scene):\n    def construct(self):\n"
        "        raise RuntimeError('kaboom')\n"
    )
    script = server.post("/api/agents/scripts/import/", json={"code": code}, headers=alice.headers).json()
    queued = server.post(
        f"/api/agents/scripts/{script['id']}/execute/",
        json={"wait": False, "max_attempts": 1},
        headers=alice.headers,
    ).json()
    kinds = [doc["event"] for doc in _events(server, alice, queued["execution_id"])]
    assert kinds[0] == "render_started" and "render_failed" in kinds and kinds[-1] == "done"


def test_events_of_someone_elses_execution_are_404(server, alice):
    bob = server.account()
    script = _import(server, alice)
    result = server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"quality": "low"}, headers=alice.headers
    ).json()
    answer = server.get(f"/api/agents/executions/{result['execution_id']}/events/", headers=bob.headers)
    assert answer.status_code == 404 and answer.json()["error"]
    assert server.get(f"/api/agents/executions/{result['execution_id']}/events/").status_code == 401


def test_server_renders_draw_the_same_progress_as_local_ones(server, alice, cli, monkeypatch, tmp_path):
    from manimagent.backends.remote import RemoteBackend
    from manimagent.client import TokenStore
    from manimagent.events import Done, RenderProgress, RenderStarted
    from manimagent.schemas import TokenPair

    TokenStore(server.url).save(TokenPair(access=alice.access, refresh=alice.refresh))
    seen = []
    script = _import(server, alice)
    result = RemoteBackend(server.url, events=seen.append).render.execute_script(
        ref=script["id"],
        quality="low",
        output=str(tmp_path / "out.mp4"),
    )
    assert result.success and (tmp_path / "out.mp4").stat().st_size > 1000
    assert isinstance(seen[0], RenderStarted) and any(isinstance(event, RenderProgress) for event in seen)
    assert isinstance(seen[-1], Done) and seen[-1].output_path == str((tmp_path / "out.mp4").resolve())

    remote = cli("render", str(EXAMPLES / "circle.py"), "--server", server.url, "--quality", "low")
    local = cli("render", str(EXAMPLES / "circle.py"), "--quality", "low")
    assert remote.code == 0 and local.code == 0, (remote.stderr, local.stderr)
    for output in (remote.stderr, local.stderr):
        assert "Rendering CircleToSquare with local (attempt 1 of 1)" in output and "Done: " in output
