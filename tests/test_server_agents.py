"""Scripts, executions, media, providers and containers over real HTTP, with real renders and two users.

Neither user reaches the other's scripts, executions or media on any endpoint: always 404.
"""

from __future__ import annotations

import http.client
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import EXAMPLES, child_pids, process_gone
from server_fixtures import start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]
PROVIDER_KEY = "sk-test-do-not-leak-4242424242"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("agents") / "home", env={"TEST_PROVIDER_KEY": PROVIDER_KEY})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def alice(server):
    return server.account("alice@example.com")


@pytest.fixture(scope="module")
def bob(server):
    return server.account("bob@example.com")


@pytest.fixture(scope="module")
def rendered(server, alice):
    """Alice's imported script and its first successful execution."""
    script = server.post(
        "/api/agents/scripts/import/",
        json={"code": (EXAMPLES / "circle.py").read_text()},
        headers=alice.headers,
    )
    assert script.status_code == 201, script.text
    result = server.post(f"/api/agents/scripts/{script.json()['id']}/execute/", headers=alice.headers)
    assert result.status_code == 200, result.text
    return script.json(), result.json()


def _raw_get(server, path: str, headers: dict[str, str] | None = None) -> int:
    """GET `path` exactly as written (no client-side normalization of `..` or `%2e`)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _media_path(url: str) -> str:
    return urlsplit(url).path


# ---- scripts and executions -----------------------------------------------------------------------


def test_import_list_and_show(server, alice, rendered):
    script, _ = rendered
    assert script["scenes"] == ["CircleToSquare"] and script["status"] == "pending" and "content" in script
    listed = server.get("/api/agents/scripts/", headers=alice.headers).json()
    assert script["id"] in [row["id"] for row in listed]
    assert {"id", "prompt", "status"} <= set(listed[0]) and "content" not in listed[0]
    shown = server.get(f"/api/agents/scripts/{script['id'][:8]}/", headers=alice.headers).json()
    assert shown["id"] == script["id"] and shown["content"].startswith('"""A circle')
    assert server.get("/api/agents/scripts/?status=successful", headers=alice.headers).status_code == 200
    assert server.get("/api/agents/scripts/?status=bogus", headers=alice.headers).status_code == 422
    assert server.get("/api/agents/scripts/?limit=0", headers=alice.headers).status_code == 422


def test_execute_result_and_output_url(server, alice, rendered):
    script, result = rendered
    assert result["success"] is True and result["script_id"] == script["id"] and result["attempts"] == 1
    assert result["output_path"].startswith(str(server.home / "media"))
    assert result["output_url"].startswith(f"{server.url}/media/") and "sig=" in result["output_url"]
    video = server.get(result["output_url"])  # no Bearer: the signature is enough
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == Path(result["output_path"]).read_bytes()


def test_executions_list_show_and_filter(server, alice, rendered):
    script, result = rendered
    rows = server.get("/api/agents/executions/", headers=alice.headers).json()
    row = next(item for item in rows if item["id"] == result["execution_id"])
    assert row["script"] == script["id"] and row["status"] == "succeeded" and row["is_successful"] is True
    assert row["output_url"] and row["engine"] == "local"
    only = server.get(f"/api/agents/executions/?script={script['id']}", headers=alice.headers).json()
    assert {item["script"] for item in only} == {script["id"]}
    detail = server.get(f"/api/agents/executions/{result['execution_id']}/", headers=alice.headers).json()
    assert detail["original_script"] and "log" in detail and detail["output_url"]


def test_retry_renders_again(server, alice, rendered):
    _, result = rendered
    retried = server.post(f"/api/agents/executions/{result['execution_id']}/retry/", headers=alice.headers)
    assert retried.status_code == 200, retried.text
    doc = retried.json()
    assert doc["success"] is True and doc["execution_id"] != result["execution_id"] and doc["output_url"]


def test_wait_false_answers_202_and_the_execution_can_be_polled(server, alice, rendered):
    script, _ = rendered
    queued = server.post(
        f"/api/agents/scripts/{script['id']}/execute/",
        json={"wait": False, "quality": "low"},
        headers=alice.headers,
    )
    assert queued.status_code == 202, queued.text
    doc = queued.json()
    assert doc["success"] is True and doc["status"] == "queued" and doc["script_id"] == script["id"]
    assert doc["execution_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        polled = server.get(f"/api/agents/executions/{doc['execution_id']}/", headers=alice.headers).json()
        if polled["status"] not in {"queued", "running"}:
            break
        time.sleep(0.3)
    assert polled["status"] == "succeeded" and polled["output_url"]


def test_a_script_cannot_be_deleted_while_it_renders(server, alice):
    script = server.post(
        "/api/agents/scripts/import/",
        json={"code": (EXAMPLES / "circle.py").read_text()},
        headers=alice.headers,
    ).json()
    queued = server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"wait": False}, headers=alice.headers
    ).json()
    refused = server.request("DELETE", f"/api/agents/scripts/{script['id']}/", headers=alice.headers)
    assert refused.status_code == 409 and "rendered" in refused.json()["error"]
    deadline = time.monotonic() + 120
    while (
        deleted := server.request("DELETE", f"/api/agents/scripts/{script['id']}/", headers=alice.headers)
    ).status_code == 409:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert deleted.status_code == 204
    assert (
        server.get(f"/api/agents/executions/{queued['execution_id']}/", headers=alice.headers).status_code
        == 404
    )


def test_a_queued_render_that_cannot_start_fails_its_row(server, alice, rendered):
    script, _ = rendered
    body = {"wait": False, "engine": "docker", "container": "no-such-container"}
    doc = server.post(f"/api/agents/scripts/{script['id']}/execute/", json=body, headers=alice.headers).json()
    assert doc["status"] == "queued" and doc["execution_id"]
    deadline = time.monotonic() + 60
    while (
        polled := server.get(f"/api/agents/executions/{doc['execution_id']}/", headers=alice.headers).json()
    )["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert polled["status"] == "failed" and "no-such-container" in polled["error"]


def test_wait_false_with_an_unknown_script_is_still_404(server, alice):
    response = server.post(
        f"/api/agents/scripts/{uuid.uuid4()}/execute/", json={"wait": False}, headers=alice.headers
    )
    assert response.status_code == 404


def test_failing_script_reports_failure_not_a_server_error(server, alice):
    code = (
        "from manim import *\nclass Boom(Scene):\n    def construct(self):\n"
        "        raise RuntimeError('kaboom')\n"
    )
    script = server.post("/api/agents/scripts/import/", json={"code": code}, headers=alice.headers).json()
    result = server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"max_attempts": 1}, headers=alice.headers
    )
    assert result.status_code == 200
    assert (
        result.json()["success"] is False
        and "kaboom" in result.json()["error"]
        and result.json()["output_url"] is None
    )


def test_generate_with_auto_execute_on_the_offline_provider(server, alice, bob):
    response = server.post(
        "/api/agents/scripts/generate/",
        json={"prompt": "Animate a circle", "auto_execute": True},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["success"] is True and doc["provider"] == "offline" and doc["script_id"]
    assert doc["execution"]["success"] is True and doc["execution"]["output_url"]
    assert server.get(doc["execution"]["output_url"]).headers["content-type"] == "video/mp4"
    assert server.get(f"/api/agents/scripts/{doc['script_id']}/", headers=bob.headers).status_code == 404
    plain = server.post(
        "/api/agents/scripts/generate/", json={"prompt": "Animate a square"}, headers=alice.headers
    ).json()
    assert plain["success"] is True and plain["execution"] is None and plain["status"] == "pending"


def test_generate_wait_false_queues_the_render(server, alice):
    body = {"prompt": "Animate a circle", "auto_execute": True, "wait": False}
    response = server.post("/api/agents/scripts/generate/", json=body, headers=alice.headers)
    assert response.status_code == 202, response.text
    doc = response.json()
    assert doc["status"] == "queued" and doc["script_id"] and doc["execution_id"]
    deadline = time.monotonic() + 120
    while (
        polled := server.get(f"/api/agents/executions/{doc['execution_id']}/", headers=alice.headers).json()
    )["status"] in {"queued", "running"}:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert polled["status"] == "succeeded" and polled["script"] == doc["script_id"]


def test_refine_makes_a_child_script_of_your_own_only(server, alice, bob, rendered):
    script, _ = rendered
    response = server.post(
        f"/api/agents/scripts/{script['id']}/refine/",
        json={"instruction": "make it red"},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    child = server.get(f"/api/agents/scripts/{response.json()['script_id']}/", headers=alice.headers).json()
    assert child["parent"] == script["id"] and child["source"] == "refined"
    stolen = server.post(
        f"/api/agents/scripts/{script['id']}/refine/", json={"instruction": "mine now"}, headers=bob.headers
    )
    assert stolen.status_code == 404


def test_generate_with_an_unknown_provider_is_a_client_error(server, alice):
    response = server.post(
        "/api/agents/scripts/generate/",
        json={"prompt": "Animate a circle", "provider": "nope"},
        headers=alice.headers,
    )
    assert 400 <= response.status_code < 500 and response.json()["error"]


def test_import_refuses_what_is_not_a_manim_script(server, alice):
    response = server.post(
        "/api/agents/scripts/import/", json={"code": "print('no scene here')"}, headers=alice.headers
    )
    assert response.status_code == 422 and response.json()["error"]


def test_delete_removes_the_script_and_its_media(server, alice):
    script = server.post(
        "/api/agents/scripts/import/",
        json={"code": (EXAMPLES / "circle.py").read_text()},
        headers=alice.headers,
    ).json()
    result = server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers).json()
    assert (
        server.request("DELETE", f"/api/agents/scripts/{script['id']}/", headers=alice.headers).status_code
        == 204
    )
    assert server.get(f"/api/agents/scripts/{script['id']}/", headers=alice.headers).status_code == 404
    assert server.get(result["output_url"]).status_code == 404
    assert not Path(result["output_path"]).exists()


# ---- two users --------------------------------------------------------------------------------------


def test_other_users_objects_are_404_on_every_endpoint(server, alice, bob, rendered):
    script, result = rendered
    sid, eid = script["id"], result["execution_id"]
    attempts = [
        ("GET", f"/api/agents/scripts/{sid}/", None),
        ("GET", f"/api/agents/scripts/{sid[:8]}/", None),
        ("POST", f"/api/agents/scripts/{sid}/execute/", {}),
        ("POST", f"/api/agents/scripts/{sid}/execute/", {"wait": False}),
        ("DELETE", f"/api/agents/scripts/{sid}/", None),
        ("POST", f"/api/agents/scripts/{sid}/refine/", {"instruction": "take it"}),
        ("GET", f"/api/agents/executions/{eid}/", None),
        ("GET", f"/api/agents/executions/?script={sid}", None),
        ("POST", f"/api/agents/executions/{eid}/retry/", {}),
        ("POST", f"/api/agents/executions/{eid}/retry/", {"wait": False}),
        ("GET", _media_path(result["output_url"]), None),
    ]
    for method, path, body in attempts:
        response = server.request(method, path, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    assert sid not in [row["id"] for row in server.get("/api/agents/scripts/", headers=bob.headers).json()]
    assert eid not in [row["id"] for row in server.get("/api/agents/executions/", headers=bob.headers).json()]
    # and alice still has everything
    assert server.get(f"/api/agents/scripts/{sid}/", headers=alice.headers).status_code == 200


def test_an_unknown_id_and_another_users_id_look_the_same(server, bob, rendered):
    script, _ = rendered
    other = server.get(f"/api/agents/scripts/{script['id']}/", headers=bob.headers)
    unknown = server.get(f"/api/agents/scripts/{uuid.uuid4()}/", headers=bob.headers)
    assert other.status_code == unknown.status_code == 404
    assert other.json().keys() == unknown.json().keys()


def test_media_needs_the_owner_or_a_signature(server, alice, bob, rendered):
    _, result = rendered
    path = _media_path(result["output_url"])
    assert server.get(path, headers=alice.headers).status_code == 200
    assert server.get(path, headers=bob.headers).status_code == 404
    assert server.get(path).status_code == 404
    assert server.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 404
    query = urlsplit(result["output_url"]).query
    tampered = query[:-4] + ("0000" if not query.endswith("0000") else "1111")
    assert server.get(f"{path}?{tampered}").status_code == 404
    expires = int(dict(item.split("=") for item in query.split("&"))["expires"])
    assert server.get(f"{path}?{query.replace(str(expires), str(expires + 3600))}").status_code == 404


def test_an_expired_signature_is_404(server, rendered):
    from manimagent.server.media import relative_media_path, signature

    _, result = rendered
    settings = server.settings()
    relative = relative_media_path(settings, Path(result["output_path"]))
    past = int(time.time()) - 10
    path = _media_path(result["output_url"])
    assert server.get(f"{path}?expires={past}&sig={signature(settings, relative, past)}").status_code == 404
    future = int(time.time()) + 60
    assert (
        server.get(f"{path}?expires={future}&sig={signature(settings, relative, future)}").status_code == 200
    )


def test_path_traversal_is_404(server, alice, rendered):
    from manimagent.server.media import signature

    script, result = rendered
    media = server.home / "media"
    (media / "escape.mp4").symlink_to(server.home / "manimagent.db")
    (media / "etc-link").symlink_to("/etc")
    settings = server.settings()
    future = int(time.time()) + 600
    signed = lambda relative: f"?expires={future}&sig={signature(settings, relative, future)}"  # noqa: E731
    candidates = [
        "/media/../manimagent.db",
        "/media/%2e%2e/manimagent.db",
        "/media/%2E%2E%2Fmanimagent.db",
        "/media/%252e%252e/manimagent.db",
        "/media/%252e%252e%252fmanimagent.db",
        "/media/..%2f..%2fetc/passwd",
        f"/media/{script['id']}/../../manimagent.db",
        f"/media/{script['id']}/%2e%2e/%2e%2e/manimagent.db",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        f"/media/{server.home}/manimagent.db",
        "/media/escape.mp4",
        "/media/escape.mp4" + signed("escape.mp4"),
        "/media/etc-link/passwd" + signed("etc-link/passwd"),
        "/media/.staging/",
        "/media/",
        "/media/%00",
        f"/media/{script['id']}/",
    ]
    for path in candidates:
        assert _raw_get(server, path, alice.headers) == 404, path
        assert _raw_get(server, path) == 404, path
    assert (
        _raw_get(server, _media_path(result["output_url"]), alice.headers) == 200
    )  # the real one still works


# ---- providers and containers -----------------------------------------------------------------------


def test_providers_are_listed_without_keys(server, alice):
    from manimagent.services.providers import add_provider

    add_provider(
        server.context(),
        name="keyed",
        provider_type="openai",
        model_name="gpt-4o-mini",
        api_key_env="TEST_PROVIDER_KEY",
    )
    response = server.get("/api/agents/providers/", headers=alice.headers)
    assert response.status_code == 200
    [row] = [item for item in response.json() if item["name"] == "keyed"]
    assert row["provider_type"] == "openai" and row["model_name"] == "gpt-4o-mini"
    assert row["key_source"] == "env TEST_PROVIDER_KEY"
    assert PROVIDER_KEY not in response.text
    assert server.get("/api/agents/providers/").status_code == 401


def test_containers_list_and_admin_only_start(server, alice):
    from manimagent.services.containers import add_container

    add_container(server.context(), name="render-box", image="manimcommunity/manim:test")
    listed = server.get("/api/agents/containers/", headers=alice.headers)
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()] == ["render-box"] and listed.json()[0][
        "is_running"
    ] is False
    assert server.post("/api/agents/containers/render-box/start/", headers=alice.headers).status_code == 403
    assert server.post("/api/agents/containers/render-box/stop/", headers=alice.headers).status_code == 403
    admin = server.account(admin=True)
    assert server.post("/api/agents/containers/no-such-box/start/", headers=admin.headers).status_code == 404
    assert (
        server.post("/api/agents/containers/no-such-box/check_status/", headers=alice.headers).status_code
        == 404
    )


def test_no_response_contains_a_key(server, alice, rendered):
    for path in (
        "/api/agents/scripts/",
        "/api/agents/executions/",
        "/api/agents/providers/",
        "/api/agents/containers/",
        "/api/auth/profile/",
    ):
        assert PROVIDER_KEY not in server.get(path, headers=alice.headers).text
    assert PROVIDER_KEY not in server.get("/openapi.json").text
    assert os.environ.get("TEST_PROVIDER_KEY") is None  # only the server process has it


ENDLESS = (
    "from manim import *\nimport time\nclass Endless(Scene):\n    def construct(self):\n"
    "        while True:\n            time.sleep(0.05)\n"
)


def _status(server, account, execution_id: str) -> dict:
    return server.get(f"/api/agents/executions/{execution_id}/", headers=account.headers).json()


def test_a_killed_server_leaves_no_render_running_and_no_row_queued(tmp_path):
    """SIGKILL `serve` with one render running and one queued: the render dies with the server, and
    the restarted server fails the queued row instead of leaving it queued forever."""
    import signal

    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text("[server]\nworkers = 1\n")
    first = start_server(home)
    owner = first.account("carol@example.com")
    script = first.post("/api/agents/scripts/import/", json={"code": ENDLESS}, headers=owner.headers).json()
    ids = [
        first.post(
            f"/api/agents/scripts/{script['id']}/execute/", json={"wait": False}, headers=owner.headers
        ).json()["execution_id"]
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while _status(first, owner, ids[0])["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [_status(first, owner, one)["status"] for one in ids] == ["running", "queued"]
    children = child_pids(first.process.pid)
    assert children  # the render under way
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    first.http.close()
    assert all(process_gone(pid, 5) for pid in children)  # it died with the server
    second = start_server(home)
    try:
        running, queued = (_status(second, owner, one) for one in ids)
        assert (
            queued["status"] == "failed"
            and queued["error"] == "the server stopped before this render started"
        )
        assert running["status"] == "running"  # until its deadline: see test_render's settling test
    finally:
        second.stop()
