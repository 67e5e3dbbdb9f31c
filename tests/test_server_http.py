"""The HTTP surface: JSON errors for every failure, body limits, unknown routes, CORS, OpenAPI, the
CLI serve."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlsplit

import pytest

from server_fixtures import server, start_server  # noqa: F401 - fixture

pytestmark = pytest.mark.server

AGENT_ENDPOINTS = [
    ("GET", "/api/agents/scripts/"),
    ("GET", "/api/agents/scripts/abcd1234/"),
    ("POST", "/api/agents/scripts/generate/"),
    ("POST", "/api/agents/scripts/import/"),
    ("POST", "/api/agents/scripts/abcd1234/execute/"),
    ("POST", "/api/agents/scripts/abcd1234/refine/"),
    ("DELETE", "/api/agents/scripts/abcd1234/"),
    ("GET", "/api/agents/executions/"),
    ("GET", "/api/agents/executions/abcd1234/"),
    ("POST", "/api/agents/executions/abcd1234/retry/"),
    ("GET", "/api/agents/providers/"),
    ("GET", "/api/agents/containers/"),
    ("POST", "/api/agents/containers/box/start/"),
    ("POST", "/api/agents/containers/box/check_status/"),
    ("GET", "/api/auth/profile/"),
]


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body


@pytest.mark.parametrize(("method", "path"), AGENT_ENDPOINTS)
def test_every_agent_endpoint_needs_a_token(server, method, path):
    _json_error(server.request(method, path, json={}), 401)


def test_malformed_json_is_400(server):
    response = server.post(
        "/api/auth/login/",
        content=b'{"email": "a@example.com", ',
        headers={"Content-Type": "application/json"},
    )
    assert _json_error(response, 400) == {"error": "Malformed JSON body."}


def test_wrong_types_are_422_with_field_details(server):
    account = server.account()
    response = server.post(
        "/api/agents/scripts/generate/", json={"prompt": 42, "auto_execute": "maybe"}, headers=account.headers
    )
    body = _json_error(response, 422)
    assert {item["field"] for item in body["details"]} == {"prompt", "auto_execute"}
    missing = server.post("/api/auth/verify-email/", json={})
    assert _json_error(missing, 422)["details"][0]["field"] == "token"
    not_an_object = server.post("/api/auth/login/", json=["a", "b"])
    _json_error(not_an_object, 422)
    empty_prompt = server.post("/api/agents/scripts/generate/", json={"prompt": ""}, headers=account.headers)
    _json_error(empty_prompt, 422)
    bad_quality = server.post(
        "/api/agents/scripts/abcd1234/execute/", json={"quality": "ultra"}, headers=account.headers
    )
    assert _json_error(bad_quality, 422)["details"][0]["field"] == "quality"


def test_oversized_body_is_413_by_content_length(server):
    from manimagent.settings import SETTINGS

    limit = next(s.default for s in SETTINGS if s.name == "max_body_bytes")
    response = server.post(
        "/api/auth/login/", content=b"x" * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert "too large" in _json_error(response, 413)["error"]


def test_oversized_chunked_body_is_413(server):
    def chunks():
        for _ in range(40):
            yield b"y" * 50_000

    response = server.post(
        "/api/auth/register/", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _json_error(response, 413)


def test_body_limit_is_a_setting(tmp_path):
    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text("[server]\nmax_body_bytes = 100\n")
    live = start_server(home)
    try:
        assert live.post("/api/auth/login/", json={"email": "a" * 200, "password": "b"}).status_code == 413
        assert (
            live.post("/api/auth/login/", json={"email": "a@example.com", "password": "b"}).status_code == 401
        )
    finally:
        live.stop()


def test_unknown_routes_and_methods_are_json(server):
    assert _json_error(server.get("/nothing/here"), 404) == {"error": "Not found."}
    assert _json_error(server.get("/api/agents/nothing/"), 404) == {"error": "Not found."}
    body = _json_error(server.request("PUT", "/api/auth/login/"), 405)
    assert body == {"error": "Method not allowed."}
    assert "POST" in server.request("PUT", "/api/auth/login/").headers["allow"]


def test_unknown_ids_are_404(server):
    account = server.account()
    for path in (
        f"/api/agents/scripts/{uuid.uuid4()}/",
        f"/api/agents/executions/{uuid.uuid4()}/",
        "/api/agents/scripts/zzzz-not-hex/",
    ):
        _json_error(server.get(path, headers=account.headers), 404)
    _json_error(server.post(f"/api/agents/executions/{uuid.uuid4()}/retry/", headers=account.headers), 404)
    _json_error(
        server.request("DELETE", f"/api/agents/scripts/{uuid.uuid4()}/", headers=account.headers), 404
    )
    _json_error(server.get("/api/agents/scripts/abc/", headers=account.headers), 422)  # shorter than a prefix


def test_paths_keep_their_trailing_slash(server):
    response = server.post(
        "/api/auth/login/".rstrip("/"),
        json={"email": "x@example.com", "password": "y"},
        follow_redirects=False,
    )
    assert response.status_code in {307, 308}
    assert response.headers["location"].endswith("/api/auth/login/")


def test_openapi_and_docs(server):
    document = server.get("/openapi.json").json()
    paths = set(document["paths"])
    assert {
        "/api/auth/register/",
        "/api/auth/verify-email/",
        "/api/auth/resend-verification/",
        "/api/auth/login/",
        "/api/auth/token/refresh/",
        "/api/auth/profile/",
        "/api/agents/scripts/",
        "/api/agents/scripts/{script_id}/",
        "/api/agents/scripts/generate/",
        "/api/agents/scripts/{script_id}/execute/",
        "/api/agents/scripts/{script_id}/refine/",
        "/api/agents/scripts/import/",
        "/api/agents/executions/",
        "/api/agents/executions/{execution_id}/",
        "/api/agents/executions/{execution_id}/retry/",
        "/api/agents/providers/",
        "/api/agents/containers/",
        "/api/agents/containers/{container_id}/start/",
        "/api/agents/containers/{container_id}/check_status/",
        "/media/{path}",
    } <= paths
    assert document["components"]["schemas"]["HTTPValidationError"]["required"] == ["error"]
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    docs = server.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_cors_is_off_unless_configured(server, tmp_path):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin"
        not in server.request("OPTIONS", "/api/auth/login/", headers=preflight).headers
    )
    assert (
        "access-control-allow-origin"
        not in server.get("/openapi.json", headers={"Origin": "https://app.example.com"}).headers
    )
    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[server]\ncors_origins = "https://app.example.com, https://other.example.com"\n'
    )
    live = start_server(home)
    try:
        allowed = live.request("OPTIONS", "/api/auth/login/", headers=preflight)
        assert (
            allowed.status_code == 200
            and allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        )
        strange = live.request(
            "OPTIONS", "/api/auth/login/", headers={**preflight, "Origin": "https://evil.example.com"}
        )
        assert strange.headers.get("access-control-allow-origin") != "https://evil.example.com"
    finally:
        live.stop()


def test_no_python_traceback_leaks(server):
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST", "/api/auth/login/", body=b"\xff\xfe\x00garbage", headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    assert response.status in {400, 422} and "Traceback" not in body and '"error"' in body


def test_serve_help(cli):
    result = cli("serve", "--help")
    assert result.code == 0 and "--host" in result.stdout and "--port" in result.stdout


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_serve_stops_gracefully_on_sigterm_and_a_closed_terminal(tmp_path, signal_name):
    import signal

    live = start_server(tmp_path / "server-home")
    live.http.close()
    live.process.send_signal(getattr(signal, signal_name))
    assert live.process.wait(timeout=30) == 0
    log = live.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log
