"""Accounts a team can lean on, over real HTTP: throttles that an attacker elsewhere cannot turn into
a lock-out, forwarded headers believed only from configured proxies, ids never reused, and admins
listing and deleting accounts (REST and CLI).

Loopback addresses 127.0.0.2, 127.0.0.3 ... are distinct client addresses (the client binds them)."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from conftest import EXAMPLES
from server_fixtures import PASSWORD, fresh_server, start_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def _from(server, address: str) -> httpx.Client:
    """A client whose connections come from `address` (a loopback address other than 127.0.0.1)."""
    return httpx.Client(
        base_url=server.url, timeout=120, transport=httpx.HTTPTransport(local_address=address)
    )


def _login(client: httpx.Client, email: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
    return client.post("/api/auth/login/", json={"email": email, "password": password}, headers=headers)


def _login_honouring_retry_after(client: httpx.Client, email: str, tries: int = 5) -> httpx.Response:
    for _ in range(tries):
        answer = _login(client, email)
        if answer.status_code != 429:
            return answer
        time.sleep(int(answer.headers["retry-after"]))
    return answer


# ---- throttles --------------------------------------------------------------------------------------


def test_the_real_user_logs_in_while_an_attacker_elsewhere_fails_50_times(fresh_server):
    account = fresh_server.account()
    statuses = []
    with _from(fresh_server, "127.0.0.2") as attacker:
        for _ in range(50):
            statuses.append(_login(attacker, account.email, "wrong password!").status_code)
        assert _login(attacker, account.email).status_code == 429  # this address is refused for this email
    assert set(statuses) == {401, 429} and statuses[:10] == [401] * 10
    with _from(fresh_server, "127.0.0.3") as real_user:
        first = _login(real_user, account.email)
        assert first.status_code in (200, 429)
        if first.status_code == 429:  # per-email failures only slow logins down, and say for how long
            assert 1 <= int(first.headers["retry-after"]) <= 30 and "slowed down" in first.json()["error"]
        answer = _login_honouring_retry_after(real_user, account.email)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) >= {"access", "refresh"}


def test_per_email_failures_space_logins_with_retry_after(fresh_server):
    from manimagent.services.auth import LOGIN_FAILURES_PER_EMAIL

    account = fresh_server.account()
    failures = 0
    for index in range(40):  # each from its own address: no pair or address limit is hit
        with _from(fresh_server, f"127.0.1.{index + 1}") as client:
            answer = _login(client, account.email, "wrong password!")
        assert answer.status_code in (401, 429)
        if answer.status_code == 429:  # spaced out, never locked: wait as told
            time.sleep(int(answer.headers["retry-after"]))
        failures += answer.status_code == 401
        if failures == LOGIN_FAILURES_PER_EMAIL.attempts + 2:
            break
    with _from(fresh_server, "127.0.2.1") as client:
        spaced = _login(client, account.email)  # right after a failure: wait a little
        assert spaced.status_code == 429 and 1 <= int(spaced.headers["retry-after"]) <= 30
        assert _login_honouring_retry_after(client, account.email).status_code == 200


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_throttled_as_usual(fresh_server):
    from manimagent.services.auth import LOGIN_FAILURES_PER_PAIR

    account = fresh_server.account()
    answers = [
        _login(
            fresh_server.http, account.email, "wrong password!", **{"X-Forwarded-For": f"10.0.{index}.1"}
        ).status_code
        for index in range(LOGIN_FAILURES_PER_PAIR.attempts + 5)
    ]
    assert answers[: LOGIN_FAILURES_PER_PAIR.attempts] == [401] * LOGIN_FAILURES_PER_PAIR.attempts
    assert set(answers[LOGIN_FAILURES_PER_PAIR.attempts :]) == {429}


def test_forwarded_for_is_believed_from_a_configured_proxy(tmp_path):
    from manimagent.services.auth import LOGIN_FAILURES_PER_PAIR

    home = tmp_path / "proxy-home"
    home.mkdir()
    (home / "config.toml").write_text('[server]\nforwarded_allow_ips = ["127.0.0.1"]\n')
    live = start_server(home)
    try:
        account, other_account = live.account(), live.account()
        attacker = {"X-Forwarded-For": "10.9.9.9"}  # behind the proxy (127.0.0.1, which is trusted)
        for _ in range(LOGIN_FAILURES_PER_PAIR.attempts):
            assert _login(live.http, account.email, "wrong password!", **attacker).status_code == 401
        assert _login(live.http, account.email, **attacker).status_code == 429  # that client is limited
        time.sleep(1.5)  # the per-email spacing after that many failures
        assert (
            _login(live.http, account.email, **{"X-Forwarded-For": "10.8.8.8"}).status_code == 200
        )  # another client is not
        with _from(live, "127.0.0.5") as untrusted:  # a peer that is not the proxy: its header is ignored
            spoofed = [
                _login(
                    untrusted, other_account.email, "wrong password!", **{"X-Forwarded-For": f"10.1.{i}.1"}
                ).status_code
                for i in range(LOGIN_FAILURES_PER_PAIR.attempts + 1)
            ]
        assert spoofed == [401] * LOGIN_FAILURES_PER_PAIR.attempts + [429]
    finally:
        live.stop()


# ---- ids, listing and deleting ------------------------------------------------------------------------


def test_user_ids_are_never_reused_and_a_deleted_users_tokens_stop_working(fresh_server):
    gone = fresh_server.account()
    gone_id = fresh_server.get("/api/auth/profile/", headers=gone.headers).json()["id"]
    fresh_server.db("DELETE FROM refreshtoken WHERE user_id = :id", {"id": gone_id})
    fresh_server.db("DELETE FROM emailtoken WHERE user_id = :id", {"id": gone_id})
    fresh_server.db("DELETE FROM user WHERE id = :id", {"id": gone_id})
    newcomer = fresh_server.account()
    assert fresh_server.get("/api/auth/profile/", headers=newcomer.headers).json()["id"] > gone_id
    assert fresh_server.get("/api/auth/profile/", headers=gone.headers).status_code == 401
    assert fresh_server.post("/api/auth/token/refresh/", json={"refresh": gone.refresh}).status_code == 401


def _rendered_script(server, account) -> dict:
    script = server.post(
        "/api/agents/scripts/import/",
        json={"code": (EXAMPLES / "circle.py").read_text()},
        headers=account.headers,
    ).json()
    result = server.post(
        f"/api/agents/scripts/{script['id']}/execute/", json={"quality": "low"}, headers=account.headers
    ).json()
    assert result["success"], result
    return {"script": script["id"], "execution": result["execution_id"], "output": result["output_path"]}


def test_an_admin_lists_and_deletes_accounts_over_rest(fresh_server):
    admin = fresh_server.account(admin=True)
    carol, dave = fresh_server.account(), fresh_server.account()
    listed = fresh_server.get("/api/auth/users/", headers=admin.headers)
    assert listed.status_code == 200 and [row["email"] for row in listed.json()] == [
        admin.email,
        carol.email,
        dave.email,
    ]
    assert "password" not in listed.text and "hash" not in listed.text
    assert fresh_server.get("/api/auth/users/", headers=carol.headers).status_code == 403
    assert (
        fresh_server.request("DELETE", f"/api/auth/users/{dave.email}/", headers=carol.headers).status_code
        == 403
    )
    page = fresh_server.get("/api/auth/users/?limit=2", headers=admin.headers)
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["link"]

    kept = _rendered_script(fresh_server, carol)
    before = fresh_server.db(
        "SELECT id FROM script WHERE owner_id != (SELECT id FROM user WHERE email = :e)", {"e": carol.email}
    )
    deleted = fresh_server.request("DELETE", f"/api/auth/users/{carol.email}/", headers=admin.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() | {"id": 0} == {
        "id": 0,
        "email": carol.email,
        "scripts": 1,
        "executions": 1,
        "reassigned_to": None,
        "tokens_revoked": 1,
    }
    assert fresh_server.get("/api/auth/profile/", headers=carol.headers).status_code == 401
    assert fresh_server.db("SELECT count(*) FROM script WHERE id = :id", {"id": kept["script"]}) == [(0,)]
    assert fresh_server.db("SELECT count(*) FROM execution WHERE id = :id", {"id": kept["execution"]}) == [
        (0,)
    ]
    assert not (fresh_server.home / "media" / kept["script"]).exists()
    assert fresh_server.db("SELECT id FROM script") == before  # nobody else's rows went
    assert (
        fresh_server.request("DELETE", f"/api/auth/users/{carol.email}/", headers=admin.headers).status_code
        == 404
    )
    fresh_server.register(carol.email)  # the address may register again, as a new account with a new id
    assert fresh_server.db(
        "SELECT id > :old FROM user WHERE email = :e", {"old": deleted.json()["id"], "e": carol.email}
    ) == [(1,)]


def test_deleting_with_reassign_gives_the_rows_and_media_to_another_account(fresh_server):
    admin = fresh_server.account(admin=True)
    erin = fresh_server.account()
    kept = _rendered_script(fresh_server, erin)
    answer = fresh_server.request(
        "DELETE", f"/api/auth/users/{erin.email}/", params={"reassign_to": admin.email}, headers=admin.headers
    )
    assert answer.status_code == 200 and answer.json()["reassigned_to"] == admin.email
    shown = fresh_server.get(f"/api/agents/scripts/{kept['script']}/", headers=admin.headers)
    assert shown.status_code == 200 and shown.json()["executions"] == [kept["execution"]]
    assert (fresh_server.home / "media" / kept["script"]).is_dir()
    video = fresh_server.get(f"/media/{kept['output'].split('/media/', 1)[1]}", headers=admin.headers)
    assert video.status_code == 200 and len(video.content) > 1000


def test_auth_users_and_delete_on_the_local_store(cli, monkeypatch, isolated_home):
    import io

    from manimagent.context import local_context
    from manimagent.services.auth import register

    for address in ("first@example.com", "second@example.com"):
        register(local_context(), email=address, password=PASSWORD)
    listed = cli("auth", "users", "--json")
    assert listed.code == 0 and [row["email"] for row in listed.json()] == [
        "first@example.com",
        "second@example.com",
    ]
    table = cli("auth", "users")
    assert "first@example.com" in table.stdout and "second@example.com" in table.stdout
    assert [row["email"] for row in cli("auth", "users", "--limit", "1", "--json").json()] == [
        "first@example.com"
    ]
    imported = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json").json()["id"]
    db = sqlite3.connect(isolated_home / "manimagent.db")
    db.execute("UPDATE script SET owner_id = (SELECT id FROM user WHERE email = 'second@example.com')")
    db.commit()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    deleted = cli("auth", "delete", "second@example.com", "--yes", "--json")
    assert deleted.code == 0, deleted.stderr
    assert deleted.json()["scripts"] == 1 and db.execute(
        "SELECT count(*) FROM script WHERE id = ?", (imported,)
    ).fetchone() == (0,)
    missing = cli("auth", "delete", "second@example.com", "--yes")
    assert (
        missing.code == 2
        and missing.stderr.startswith("Error: no account")
        and "Traceback" not in missing.stderr
    )
    assert [row["email"] for row in cli("auth", "users", "--json").json()] == ["first@example.com"]
    assert db.execute("SELECT email FROM user").fetchall() == [("first@example.com",)]
