"""Accounts over real HTTP: register, mail, verify, login, JWT expiry, rotation and reuse, rate limits."""

from __future__ import annotations

import secrets
import stat
from datetime import timedelta

import pytest

from server_fixtures import PASSWORD, fresh_server, server, start_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def _address() -> str:
    return f"someone-{secrets.token_hex(4)}@example.com"


# ---- register and verify ------------------------------------------------------------------------


def test_register_verify_login_profile(server):
    address = _address()
    response = server.register(address.upper())
    assert response.status_code == 201
    assert response.json() == {"message": "Registration successful. Please verify your email."}
    [mail] = server.mails_to(address)  # normalized to lower case
    assert mail["Subject"] and mail["From"] and mail["Date"] and mail["Message-ID"]
    token = server.outbox_token(address)
    assert server.post("/api/auth/verify-email/", json={"token": token}).json() == {
        "message": "Email verified."
    }
    pair = server.login(address.title()).json()
    assert set(pair) == {"access", "refresh", "user"}  # `user` since omega-client's routes (issue 11)
    profile = server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {pair['access']}"})
    assert profile.status_code == 200
    doc = profile.json()
    assert doc["email"] == address and doc["email_verified"] is True and doc["is_admin"] is False
    assert {"id", "date_joined", "last_login"} <= set(doc)
    assert "password" not in profile.text and "hash" not in profile.text


def test_outbox_mail_is_rfc5322_with_the_token_on_its_own_line(server):
    address = _address()
    server.register(address)
    [path] = [p for p in (server.home / "outbox").glob("*.eml") if address in p.read_text()]
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends
    token = server.outbox_token(address)
    assert f"\r\nVerification token: {token}\r\n".encode() in raw
    assert server.db("SELECT count(*) FROM emailtoken WHERE token_hash = :t", {"t": token}) == [
        (0,)
    ]  # stored hashed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "longenough@example.com", "password": "LongEnough@example.com"}, "password"),
    ],
)
def test_register_rejects_bad_fields_with_details(server, body, field):
    response = server.post("/api/auth/register/", json=body)
    assert response.status_code == 400
    doc = response.json()
    assert doc["error"] and any(item["field"] == field for item in doc["details"])


def test_register_wrong_types_and_missing_fields_are_422_with_details(server):
    response = server.post("/api/auth/register/", json={"email": 5})
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["details"]}
    assert fields == {"email", "password"}


def test_registering_twice_answers_the_same_and_keeps_one_account(server):
    account = server.account()
    again = server.register(account.email, "another password entirely")
    assert again.status_code == 201 and again.json()["message"].startswith("Registration successful")
    assert server.db("SELECT count(*) FROM user WHERE email = :e", {"e": account.email}) == [(1,)]
    assert server.login(account.email).status_code == 200  # the password did not change
    assert server.login(account.email, "another password entirely").status_code == 401
    assert "already has a verified account" in server.mails_to(account.email)[-1].get_content()


def test_login_refused_until_verified(server):
    address = _address()
    server.register(address)
    response = server.login(address)
    assert response.status_code == 403
    assert "not verified" in response.json()["error"].lower()


def test_bad_credentials_are_401_with_one_message(server):
    account = server.account()
    wrong = server.login(account.email, "not the password at all")
    unknown = server.login(_address())
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Invalid email or password."}


def test_verification_token_is_single_use(server):
    address = _address()
    server.register(address)
    token = server.outbox_token(address)
    assert server.post("/api/auth/verify-email/", json={"token": token}).status_code == 200
    second = server.post("/api/auth/verify-email/", json={"token": token})
    assert second.status_code == 400 and "invalid or expired" in second.json()["error"].lower()


def test_unknown_and_expired_verification_tokens(server):
    assert server.post("/api/auth/verify-email/", json={"token": "nope"}).status_code == 400
    address = _address()
    server.register(address)
    token = server.outbox_token(address)
    server.db("UPDATE emailtoken SET expires_at = '2000-01-01 00:00:00.000000' WHERE used_at IS NULL")
    assert server.post("/api/auth/verify-email/", json={"token": token}).status_code == 400
    assert server.login(address).status_code == 403


def test_resend_verification_mails_a_new_token_and_spends_the_rest(server):
    address = _address()
    server.register(address)
    first = server.outbox_token(address)
    answer = server.post("/api/auth/resend-verification/", json={"email": address})
    unknown = server.post("/api/auth/resend-verification/", json={"email": _address()})
    assert answer.status_code == unknown.status_code == 200 and answer.json() == unknown.json()
    second = server.outbox_token(address)
    assert second != first
    assert server.post("/api/auth/verify-email/", json={"token": second}).status_code == 200
    assert server.post("/api/auth/verify-email/", json={"token": first}).status_code == 400


# ---- tokens ---------------------------------------------------------------------------------------


def _profile(server, access: str):
    return server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {access}"})


def test_refresh_rotates_and_a_reused_token_revokes_the_family(server):
    account = server.account()
    first = server.post("/api/auth/token/refresh/", json={"refresh": account.refresh})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh"] != account.refresh and _profile(server, rotated["access"]).status_code == 200
    reused = server.post("/api/auth/token/refresh/", json={"refresh": account.refresh})
    assert reused.status_code == 401 and "already used" in reused.json()["error"]
    # the whole family is gone: the rotated refresh token and its access token too
    assert server.post("/api/auth/token/refresh/", json={"refresh": rotated["refresh"]}).status_code == 401
    assert _profile(server, rotated["access"]).status_code == 401
    # another login (another family) is untouched
    assert server.login(account.email).status_code == 200


def test_logout_revokes_the_login(server):
    account = server.account()
    assert server.post("/api/auth/logout/", json={"refresh": account.refresh}).status_code == 200
    assert _profile(server, account.access).status_code == 401
    assert server.post("/api/auth/token/refresh/", json={"refresh": account.refresh}).status_code == 401


def test_expired_and_forged_tokens_are_401(server):
    account = server.account()
    user_id = str(_profile(server, account.access).json()["id"])
    family = server.db("SELECT family FROM refreshtoken ORDER BY id DESC LIMIT 1")[0][0]
    access = {"sub": user_id, "type": "access", "fam": family}
    assert _profile(server, server.token(access)).status_code == 200  # the crafting is right
    expired = server.token(access, ttl=timedelta(seconds=-1))
    forged = server.token(access, secret="some other secret, long enough for HS256 keys")
    refresh_as_access = server.token({**access, "type": "refresh"})
    for token in (expired, forged, refresh_as_access, "garbage", account.refresh):
        response = _profile(server, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    unsigned = server.token(access).rsplit(".", 1)[0] + "."
    assert _profile(server, unsigned).status_code == 401
    assert server.get("/api/auth/profile/").status_code == 401


def test_expired_refresh_token_is_refused(server):
    account = server.account()
    jti, family, user_id = server.db(
        "SELECT jti, family, user_id FROM refreshtoken ORDER BY id DESC LIMIT 1"
    )[0]
    expired = server.token(
        {"sub": str(user_id), "type": "refresh", "fam": family, "jti": jti}, ttl=timedelta(seconds=-1)
    )
    assert server.post("/api/auth/token/refresh/", json={"refresh": expired}).status_code == 401
    assert server.post("/api/auth/token/refresh/", json={"refresh": account.refresh}).status_code == 200


def test_access_token_lives_15_minutes_and_refresh_7_days(server):
    import jwt

    account = server.account()
    access = jwt.decode(account.access, server.secret, algorithms=["HS256"])
    refresh = jwt.decode(account.refresh, server.secret, algorithms=["HS256"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


# ---- rate limits ----------------------------------------------------------------------------------


def test_login_failures_are_limited_per_email(fresh_server):
    from manimagent.services.auth import LOGIN_FAILURES_PER_EMAIL

    account = fresh_server.account()
    for _ in range(LOGIN_FAILURES_PER_EMAIL.attempts):
        assert fresh_server.login(account.email, "wrong password!").status_code == 401
    limited = fresh_server.login(account.email)  # even the right password, for now
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"]
    assert fresh_server.login(_address(), "wrong password!").status_code == 401  # other emails still answer


def test_login_failures_are_limited_per_address(fresh_server):
    from manimagent.services.auth import LOGIN_FAILURES_PER_ADDRESS

    for index in range(LOGIN_FAILURES_PER_ADDRESS.attempts):
        assert fresh_server.login(f"nobody{index}@example.com", "wrong password!").status_code == 401
    assert fresh_server.login("nobody-else@example.com", "wrong password!").status_code == 429


def test_register_is_limited_per_email_and_per_address(fresh_server):
    from manimagent.services.auth import REGISTER_PER_ADDRESS, REGISTER_PER_EMAIL

    address = _address()
    for _ in range(REGISTER_PER_EMAIL.attempts):
        assert fresh_server.register(address).status_code == 201
    assert fresh_server.register(address).status_code == 429
    for _ in range(REGISTER_PER_ADDRESS.attempts - REGISTER_PER_EMAIL.attempts):
        assert fresh_server.register(_address()).status_code == 201
    assert fresh_server.register(_address()).status_code == 429
    assert fresh_server.post("/api/auth/resend-verification/", json={"email": address}).status_code == 429


def test_email_tokens_never_look_like_options():
    from manimagent.services.auth import new_email_token

    tokens = {new_email_token() for _ in range(2000)}
    assert len(tokens) == 2000 and not any(token.startswith("-") for token in tokens)
    assert all(len(token) >= 43 for token in tokens)


def test_rate_limiter_window_slides():
    from manimagent.errors import RateLimited
    from manimagent.services.auth import Limit, RateLimiter

    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limit = Limit(2, 60)
    limiter.hit(("b", "k", limit))
    now[0] += 30
    limiter.hit(("b", "k", limit))
    with pytest.raises(RateLimited):
        limiter.hit(("b", "k", limit), ("b", "other", limit))
    limiter.hit(("b", "other", limit), ("b", "third", limit))  # the refused attempt did not count
    limiter.hit(("b", "other", limit))
    now[0] += 31  # the first hit left the window
    limiter.hit(("b", "k", limit))


# ---- secret key, admin ----------------------------------------------------------------------------


def test_generated_secret_is_kept_in_a_0600_file_and_survives_restarts(tmp_path):
    home = tmp_path / "home"
    first = start_server(home, secret=None)
    try:
        account = first.account()
    finally:
        first.stop()
    secret_file = home / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    second = start_server(home, secret=None)
    try:
        assert _profile(second, account.access).status_code == 200  # same secret after a restart
    finally:
        second.stop()


def test_promote_on_the_servers_machine(server, cli, monkeypatch):
    account = server.account()
    monkeypatch.setenv("MANIMAGENT_HOME", str(server.home))
    result = cli("auth", "promote", account.email, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["is_admin"] is True
    assert _profile(server, account.access).json()["is_admin"] is True
    assert cli("auth", "promote", "nobody@example.com").code == 2
