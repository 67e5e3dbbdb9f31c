"""omega-client (the seed system's web front end) against a real `manimagent serve`, over HTTP.

The session is replayed in the client's order, from an Origin the CORS setting allows, with the
preflight a browser sends before each JSON or authorized request, and every field the client reads
is checked. Then the bad inputs and attacks on the routes that exist for it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import ROOT, CliResult, assert_one_line_error
from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from server_fixtures import PASSWORD, LiveServer, free_port, server_env, start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

ORIGIN = "http://localhost:3000"
SCRIPT_FIELDS = {
    "id",
    "prompt",
    "script",
    "provider",
    "output_path",
    "output_url",
    "status",
    "error_message",
    "created_at",
    "updated_at",
}
CONFIG = f"""
[server]
cors_origins = ["{ORIGIN}/", "https://omega.example.com"]
access_token_minutes = 60
refresh_reuse_grace_seconds = 30
"""
GOOD_SCRIPT = (
    "```python\nfrom manim import *\n\nclass Dot1(Scene):\n    def construct(self):\n"
    "        self.add(Dot())\n```"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("omega") / "home"
    home.mkdir()
    (home / "config.toml").write_text(CONFIG)
    live = start_server(home)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def member(server):
    """One account for the tests that only need someone signed in (registrations are rate limited)."""
    return server.account()


class Browser:
    """What a browser sends for omega-client's axios calls: a CORS preflight before each request
    (they all carry JSON or a Bearer token), then the request with `Origin`. Both answers must
    allow the origin; the client reads errors from `{"error"}`."""

    def __init__(self, server: LiveServer, origin: str = ORIGIN) -> None:
        self.server, self.origin = server, origin
        self.access = ""

    def call(
        self, method: str, path: str, *, json_body: dict | None = None, token: str | None = None
    ) -> httpx.Response:
        token = self.access if token is None else token
        self.preflight(method, path, authorized=bool(token))
        headers = {"Origin": self.origin, "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.server.request(method, path, json=json_body, headers=headers)
        assert response.headers.get("access-control-allow-origin") == self.origin, (path, response.headers)
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str) and response.json()["error"]
        return response

    def preflight(self, method: str, path: str, *, authorized: bool) -> None:
        requested = ["content-type", *(["authorization"] if authorized else [])]
        headers = {
            "Origin": self.origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(requested),
        }
        answer = self.server.request("OPTIONS", path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        assert answer.headers["access-control-allow-origin"] == self.origin
        assert method in answer.headers["access-control-allow-methods"]
        allowed = {name.strip().lower() for name in answer.headers["access-control-allow-headers"].split(",")}
        assert set(requested) <= allowed, allowed


def _new_address(tag: str) -> str:
    import secrets

    return f"{tag}-{secrets.token_hex(4)}@example.com"


def _assert_script_object(doc: dict, server: LiveServer, *, prompt: str, status: str) -> None:
    """Every field omega-client's ManimScript reads, with its type and meaning."""
    assert set(doc) == SCRIPT_FIELDS, set(doc) ^ SCRIPT_FIELDS
    assert isinstance(doc["id"], str) and len(doc["id"]) == 36
    assert doc["prompt"] == prompt
    assert "from manim import" in doc["script"] and "Scene" in doc["script"]
    assert (
        doc["provider"] == "offline"
    )  # the provider that answered (no gemini here: the preference fell back)
    assert doc["status"] == status
    created, updated = datetime.fromisoformat(doc["created_at"]), datetime.fromisoformat(doc["updated_at"])
    assert created.tzinfo is not None and updated >= created
    if status == "completed":
        assert doc["error_message"] is None
        assert doc["output_path"].endswith(".mp4") and Path(doc["output_path"]).is_file()
        _assert_signed(doc["output_url"], server)
    else:
        assert doc["output_path"] is None and doc["output_url"] is None


def _assert_signed(url: str, server: LiveServer) -> None:
    parts = urlsplit(url)
    assert url.startswith(server.url + "/media/") and parts.path.endswith(".mp4")
    query = parse_qs(parts.query)
    assert int(query["expires"][0]) > datetime.now().timestamp() + 3600 and len(query["sig"][0]) == 64


def _fetch_video(url: str, tmp_path: Path) -> None:
    """The `<video src>` request: no token, no cookie."""
    with httpx.Client(timeout=60) as anonymous:
        video = anonymous.get(url)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    if shutil.which("ffprobe"):
        path = tmp_path / "video.mp4"
        path.write_bytes(video.content)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0 and float(probe.stdout.strip()) > 0


# ---- the replayed session ------------------------------------------------------------------------


def test_the_client_session_replayed_field_by_field(server, tmp_path):
    import jwt

    browser = Browser(server)
    address = _new_address("ada")

    # waitlist.tsx
    joined = browser.call(
        "POST",
        "/api/auth/waiting-list/",
        json_body={"email": address, "name": "Ada Lovelace", "reason": "animations"},
    )
    assert joined.status_code == 201 and isinstance(joined.json()["message"], str)

    # register.tsx
    body = {
        "email": address,
        "password": PASSWORD,
        "password2": PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "invitation_token": "inv-123",
    }
    registered = browser.call("POST", "/api/auth/register/", json_body=body)
    assert registered.status_code == 201 and isinstance(registered.json()["message"], str)
    verified = browser.call(
        "POST", "/api/auth/verify-email/", json_body={"token": server.outbox_token(address)}
    )
    assert verified.status_code == 200 and isinstance(verified.json()["message"], str)

    # login.tsx: {access, refresh, user}
    login = browser.call("POST", "/api/auth/login/", json_body={"email": address, "password": PASSWORD})
    assert login.status_code == 200
    access, refresh, user = login.json()["access"], login.json()["refresh"], login.json()["user"]
    assert isinstance(access, str) and isinstance(refresh, str)
    assert isinstance(user["id"], int) and user["email"] == address
    assert (user["first_name"], user["last_name"]) == ("Ada", "Lovelace")
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 * 60  # server.access_token_minutes = 60
    browser.access = access

    # initAuth: the profile
    profile = browser.call("GET", "/api/auth/profile/").json()
    assert profile["id"] == user["id"] and profile["email"] == address
    assert (profile["first_name"], profile["last_name"]) == ("Ada", "Lovelace")
    assert profile["is_approved"] is True and profile["email_verified"] is True
    assert datetime.fromisoformat(profile["date_joined"])

    # dashboard.tsx: the list on mount, then a prompt with execute on
    assert browser.call("GET", "/api/scripts/").json() == []
    prompt = "Animate a circle turning into a square"
    generated = browser.call(
        "POST", "/api/generate-manim/", json_body={"prompt": prompt, "provider": "gemini", "execute": True}
    )
    assert generated.status_code == 200, generated.text
    made = generated.json()
    _assert_script_object(made, server, prompt=prompt, status="completed")

    written = browser.call(
        "POST",
        "/api/generate-manim/",
        json_body={"prompt": "Animate a dot", "provider": "gemini", "execute": False},
    )
    assert written.status_code == 200
    _assert_script_object(written.json(), server, prompt="Animate a dot", status="pending")

    listed = browser.call("GET", "/api/scripts/")
    assert isinstance(listed.json(), list) and [doc["id"] for doc in listed.json()] == [
        written.json()["id"],
        made["id"],
    ]  # newest first
    for doc in listed.json():
        _assert_script_object(doc, server, prompt=doc["prompt"], status=doc["status"])
    assert {k: v for k, v in listed.json()[1].items() if k != "output_url"} == {
        k: v for k, v in made.items() if k != "output_url"
    }

    shown = browser.call("GET", f"/api/scripts/{made['id']}/")
    assert shown.status_code == 200
    _assert_script_object(shown.json(), server, prompt=prompt, status="completed")
    assert shown.json()["script"] == made["script"] and shown.json()["output_path"] == made["output_path"]
    _fetch_video(shown.json()["output_url"], tmp_path)

    # api.ts: an access token the server refuses -> 401 -> two parallel refreshes with the same token
    expired = server.token(
        {"sub": str(user["id"]), "type": "access", "fam": claims["fam"]}, ttl=timedelta(seconds=-5)
    )
    assert browser.call("GET", "/api/scripts/", token=expired).status_code == 401
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: browser.call(
                    "POST", "/api/auth/token/refresh/", json_body={"refresh": refresh}, token=""
                ),
                range(2),
            )
        )
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert answers[0].json() == answers[1].json()  # within the grace: the very same new pair
    browser.access = answers[0].json()["access"]  # the client keeps its old refresh token
    assert [doc["id"] for doc in browser.call("GET", "/api/scripts/").json()] == [
        written.json()["id"],
        made["id"],
    ]
    assert browser.call("GET", "/api/auth/profile/").json()["email"] == address


def test_a_failed_render_is_failed_with_its_error_message(server, member):
    account = member
    code = (
        "from manim import *\nclass Boom(Scene):\n    def construct(self):\n"
        "        raise RuntimeError('kaboom')\n"
    )
    script = server.post("/api/agents/scripts/import/", json={"code": code}, headers=account.headers).json()
    server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"max_attempts": 1}, headers=account.headers
    )
    doc = server.get(f"/api/scripts/{script['id']}/", headers=account.headers).json()
    assert doc["status"] == "failed" and "kaboom" in doc["error_message"]
    assert doc["output_path"] is None and doc["output_url"] is None and doc["provider"] is None


def test_the_provider_is_a_preference(tmp_path, fake_llm):  # noqa: F811
    """A usable provider of the preferred name or type answers; an unusable preference falls back."""
    live = start_server(
        tmp_path / "server-home", env={"TEST_GEMINI_KEY": "g-key", "TEST_OPENAI_KEY": "o-key"}
    )
    try:
        from manimagent.services.providers import add_provider

        ctx = live.context()
        add_provider(
            ctx,
            name="first",
            provider_type="openai",
            base_url=fake_llm.base_url_for("openai"),
            api_key_env="TEST_OPENAI_KEY",
            priority=1,
        )
        add_provider(
            ctx,
            name="gem",
            provider_type="gemini",
            base_url=fake_llm.base_url_for("gemini"),
            api_key_env="TEST_GEMINI_KEY",
            priority=2,
        )
        add_provider(ctx, name="nokey", provider_type="anthropic", api_key_env="TEST_MISSING_KEY", priority=3)
        account = live.account()
        answered = {}
        for preference in ("gemini", "gem", "azure_openai", "nokey", "anthropic", "no-such-provider"):
            fake_llm.enqueue(text=GOOD_SCRIPT)
            response = live.post(
                "/api/generate-manim/",
                json={"prompt": "a dot", "provider": preference, "execute": False},
                headers=account.headers,
            )
            assert response.status_code == 200, (preference, response.text)
            answered[preference] = (response.json()["provider"], fake_llm.requests[-1].wire)
        assert answered == {
            "gemini": ("gem", "gemini"),
            "gem": ("gem", "gemini"),
            "azure_openai": ("first", "openai"),  # not configured: the normal selection
            "nokey": ("first", "openai"),  # configured without a key: the normal selection, not 503
            "anthropic": ("first", "openai"),
            "no-such-provider": ("first", "openai"),
        }
        assert fake_llm.requests[0].key == "g-key"
    finally:
        live.stop()


# ---- the waiting list ----------------------------------------------------------------------------


def test_waitlist_keeps_one_entry_per_address_and_answers_alike(server):
    address = _new_address("wait")
    first = server.post(
        "/api/auth/waiting-list/",
        json={"email": address, "name": "First Name", "reason": "r1", "company": "ignored"},
    )
    again = server.post("/api/auth/waiting-list/", json={"email": address.upper(), "name": "Other"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert server.db("SELECT name, reason FROM waitlistentry WHERE email = :e", {"e": address}) == [
        ("First Name", "r1")
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "No Email"}, 422, "email"),
        ({"email": "not-an-address", "name": "X"}, 400, "email"),
        ({"email": "long@example.com", "name": "x" * 151}, 422, "name"),
        ({"email": "ctl@example.com", "name": "bad\u0007name"}, 400, "name"),
        ({"email": "reason@example.com", "reason": "r" * 2001}, 422, "reason"),
    ],
)
def test_waitlist_bad_input(server, body, status, field):
    response = server.post("/api/auth/waiting-list/", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] and response.json()["details"][0]["field"] == field
    assert server.db("SELECT count(*) FROM waitlistentry WHERE email = :e", {"e": body.get("email", "")}) == [
        (0,)
    ]


def test_only_an_admin_lists_the_waitlist_and_the_cli_agrees(server, member):
    address = _new_address("listed")
    server.post(
        "/api/auth/waiting-list/", json={"email": address, "name": "Listed Person", "reason": "why not"}
    )
    assert server.get("/api/auth/waiting-list/").status_code == 401
    forbidden = server.get("/api/auth/waiting-list/", headers=member.headers)
    assert forbidden.status_code == 403 and forbidden.json()["error"]
    admin = server.account(admin=True)
    listed = server.get("/api/auth/waiting-list/", headers=admin.headers)
    assert listed.status_code == 200
    [entry] = [item for item in listed.json() if item["email"] == address]
    assert set(entry) == {"id", "email", "name", "reason", "created_at"} and (
        entry["name"],
        entry["reason"],
    ) == ("Listed Person", "why not")
    done = subprocess.run(
        [sys.executable, "-m", "manimagent", "auth", "waitlist", "--json"],
        capture_output=True,
        text=True,
        env=server_env(server.home),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == listed.json()


# ---- registration with omega's fields ------------------------------------------------------------


def test_register_stores_the_names_and_ignores_the_invitation(server):
    address = _new_address("named")
    body = {
        "email": address,
        "password": PASSWORD,
        "password2": PASSWORD,
        "first_name": "  Grace ",
        "last_name": "Hopper",
        "invitation_token": "anything",
    }
    assert server.post("/api/auth/register/", json=body).status_code == 201
    assert server.db("SELECT first_name, last_name FROM user WHERE email = :e", {"e": address}) == [
        ("Grace", "Hopper")
    ]


def test_register_without_password2_is_the_contract_form(server):
    address = _new_address("plain")
    assert server.register(address).status_code == 201
    assert server.db("SELECT first_name, last_name FROM user WHERE email = :e", {"e": address}) == [("", "")]


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"password2": PASSWORD + "!"}, 400, "password2"),
        ({"password2": ""}, 400, "password2"),
        ({"first_name": "x" * 151}, 422, "first_name"),
        ({"last_name": "tab\tand\x00nul"}, 400, "last_name"),
        ({"invitation_token": "t" * 201}, 422, "invitation_token"),
    ],
)
def test_register_bad_omega_fields(server, extra, status, field):
    address = _new_address("bad")
    response = server.post("/api/auth/register/", json={"email": address, "password": PASSWORD, **extra})
    assert response.status_code == status, response.text
    assert field in {item["field"] for item in response.json()["details"]}
    assert server.db("SELECT count(*) FROM user WHERE email = :e", {"e": address}) == [(0,)]
    assert server.mails_to(address) == []


# ---- the script routes under attack --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/generate-manim/"), ("GET", "/api/scripts/"), ("GET", "/api/scripts/abcd1234/")],
)
def test_script_routes_need_a_valid_token(server, method, path):
    forged = server.token({"sub": "1", "type": "access", "fam": "x"}, secret="wrong-" + "w" * 40)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {forged}"},
    ):
        response = server.request(method, path, json={"prompt": "a dot"}, headers=headers)
        assert response.status_code == 401 and response.json()["error"]


def test_other_users_scripts_are_404_and_unlisted(server, member):
    alice, mallory = server.account(), member
    made = server.post(
        "/api/generate-manim/",
        json={"prompt": "Animate a dot", "provider": "gemini", "execute": False},
        headers=alice.headers,
    ).json()
    assert server.get(f"/api/scripts/{made['id']}/", headers=alice.headers).status_code == 200
    theirs = server.get(f"/api/scripts/{made['id']}/", headers=mallory.headers)
    unknown = server.get("/api/scripts/00000000-0000-4000-8000-000000000000/", headers=mallory.headers)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"].replace(made["id"], "ID") == unknown.json()["error"].replace(
        "00000000-0000-4000-8000-000000000000", "ID"
    )
    assert server.get(f"/api/scripts/{made['id'][:8]}/", headers=mallory.headers).status_code == 404
    assert made["id"] not in {
        doc["id"] for doc in server.get("/api/scripts/", headers=mallory.headers).json()
    }
    assert server.get("/api/scripts/abc/", headers=mallory.headers).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "a dot", "execute": "maybe"}, "execute"),
        ({"prompt": "a dot", "provider": "p" * 201}, "provider"),
        ({"prompt": "p" * 200_001}, "prompt"),
    ],
)
def test_generate_manim_bad_input(server, member, body, field):
    before = server.get("/api/scripts/", headers=member.headers).json()
    response = server.post("/api/generate-manim/", json=body, headers=member.headers)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == field
    assert server.get("/api/scripts/", headers=member.headers).json() == before


def test_oversized_bodies_are_413_with_cors_headers(server, member):
    account = member
    huge = b'{"prompt": "' + b"x" * 1_100_000 + b'"}'
    for path in ("/api/generate-manim/", "/api/auth/waiting-list/", "/api/auth/register/"):
        response = server.post(
            path,
            content=huge,
            headers={**account.headers, "Content-Type": "application/json", "Origin": ORIGIN},
        )
        assert response.status_code == 413 and "too large" in response.json()["error"]
        assert response.headers["access-control-allow-origin"] == ORIGIN


def test_an_origin_not_listed_gets_no_cors_answer(server):
    preflight = {
        "Origin": "https://evil.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    assert (
        server.request("OPTIONS", "/api/generate-manim/", headers=preflight).headers.get(
            "access-control-allow-origin"
        )
        is None
    )
    assert (
        "access-control-allow-origin"
        not in server.get("/api/scripts/", headers={"Origin": "https://evil.example.com"}).headers
    )


# ---- refresh reuse outside the grace, and the strict default -------------------------------------


def test_a_reuse_after_the_grace_revokes_the_login(tmp_path):
    import time

    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text("[server]\nrefresh_reuse_grace_seconds = 1\n")
    live = start_server(home)
    try:
        account = live.account()
        first = live.post("/api/auth/token/refresh/", json={"refresh": account.refresh})
        assert first.status_code == 200
        time.sleep(2.5)
        again = live.post("/api/auth/token/refresh/", json={"refresh": account.refresh})
        assert again.status_code == 401 and "already used" in again.json()["error"]
        assert (
            live.get(
                "/api/auth/profile/", headers={"Authorization": f"Bearer {first.json()['access']}"}
            ).status_code
            == 401
        )
    finally:
        live.stop()


def test_by_default_a_second_use_revokes_even_at_once(tmp_path):
    import jwt

    live = start_server(tmp_path / "server-home")
    try:
        account = live.account()
        claims = jwt.decode(account.access, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 15 * 60
        assert live.post("/api/auth/token/refresh/", json={"refresh": account.refresh}).status_code == 200
        assert live.post("/api/auth/token/refresh/", json={"refresh": account.refresh}).status_code == 401
        assert live.get("/api/auth/profile/", headers=account.headers).status_code == 401
    finally:
        live.stop()


def test_a_grace_replay_never_revives_a_rotated_successor(server):
    """Within the grace the old token gives the new pair only while that pair is unused."""
    account = server.account()
    second = server.post("/api/auth/token/refresh/", json={"refresh": account.refresh}).json()
    assert server.post("/api/auth/token/refresh/", json={"refresh": second["refresh"]}).status_code == 200
    reused = server.post("/api/auth/token/refresh/", json={"refresh": account.refresh})
    assert reused.status_code == 401
    assert (
        server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {second['access']}"}).status_code
        == 401
    )


# ---- the CORS setting ----------------------------------------------------------------------------


def test_cors_origins_from_the_environment(tmp_path):
    live = start_server(
        tmp_path / "server-home", env={"MANIMAGENT_CORS_ORIGINS": "http://a.example, http://b.example"}
    )
    try:
        preflight = {
            "Origin": "http://b.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        assert (
            live.request("OPTIONS", "/api/scripts/", headers=preflight).headers["access-control-allow-origin"]
            == "http://b.example"
        )
    finally:
        live.stop()


@pytest.mark.parametrize("value", ["42", "true", '["http://a", 3]', '{ url = "http://a" }'])
def test_serve_refuses_a_cors_setting_of_another_type(tmp_path, value):
    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text(f"[server]\ncors_origins = {value}\n")
    done = subprocess.run(
        [sys.executable, "-m", "manimagent", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=server_env(home),
        cwd=ROOT,
        timeout=120,
    )
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_one_line_error(result, 3)
    assert "cors_origins" in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("access_token_minutes", "0"),
        ("refresh_reuse_grace_seconds", "-1"),
        ("access_token_minutes", '"soon"'),
    ],
)
def test_serve_refuses_token_lifetimes_out_of_range(tmp_path, key, value):
    home = tmp_path / "server-home"
    home.mkdir()
    (home / "config.toml").write_text(f"[server]\n{key} = {value}\n")
    done = subprocess.run(
        [sys.executable, "-m", "manimagent", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=server_env(home),
        cwd=ROOT,
        timeout=120,
    )
    assert_one_line_error(CliResult(done.returncode, done.stdout, done.stderr), 3)
    assert key in done.stderr
