"""The settings and services behind omega-client's routes, without a server: CORS origins as people
write them, token lifetimes, the refresh grace, account names and the waiting list on the store."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import assert_one_line_error
from manimagent.errors import BadInput, ConfigError, Forbidden, Unauthorized

PASSWORD = "correct horse battery staple"


def _settings():
    from manimagent.settings import load_settings

    return load_settings()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            'cors_origins = ["http://a.example", " http://b.example "]',
            ("http://a.example", "http://b.example"),
        ),
        ('cors_origins = "http://a.example, http://b.example,"', ("http://a.example", "http://b.example")),
        ("cors_origins = []", ()),
        ('cors_origins = ""', ()),
    ],
)
def test_cors_origins_as_an_array_or_a_string(isolated_home, toml, expected):
    (isolated_home / "config.toml").write_text(f"[server]\n{toml}\n")
    assert _settings().cors_origins == expected


def test_cors_origins_default_and_env(isolated_home, monkeypatch):
    assert _settings().cors_origins == ()
    (isolated_home / "config.toml").write_text('[server]\ncors_origins = ["http://file.example"]\n')
    monkeypatch.setenv("MANIMAGENT_CORS_ORIGINS", "http://env.example,http://two.example")
    settings = _settings()
    assert settings.cors_origins == ("http://env.example", "http://two.example")
    assert settings.sources["cors_origins"] == "env MANIMAGENT_CORS_ORIGINS"


@pytest.mark.parametrize("value", ["42", "true", '["http://a", 3]', '{ url = "http://a" }', '[["http://a"]]'])
def test_cors_origins_of_another_type_is_a_config_error(isolated_home, cli, value):
    (isolated_home / "config.toml").write_text(f"[server]\ncors_origins = {value}\n")
    with pytest.raises(ConfigError, match="cors_origins"):
        _settings()
    result = cli("config", "show")
    assert_one_line_error(result, 3)
    assert "list of strings or a comma-separated string" in result.stderr


def test_the_app_allows_exactly_the_listed_origins(isolated_home):
    from manimagent.server.app import cors_origins

    (isolated_home / "config.toml").write_text(
        '[server]\ncors_origins = ["http://localhost:3000/", "https://x.example"]\n'
    )
    assert cors_origins(_settings()) == ["http://localhost:3000", "https://x.example"]
    settings = _settings()
    settings.values["cors_origins"] = "http://hand.example, http://made.example"  # a Settings built by hand
    assert cors_origins(settings) == ["http://hand.example", "http://made.example"]


def test_token_lifetime_settings(isolated_home):
    from datetime import timedelta

    from manimagent.services.auth import access_ttl, check_token_settings, refresh_reuse_grace

    settings = _settings()
    assert access_ttl(settings) == timedelta(minutes=15) and refresh_reuse_grace(settings) == timedelta(0)
    (isolated_home / "config.toml").write_text(
        "[server]\naccess_token_minutes = 60\nrefresh_reuse_grace_seconds = 10\n"
    )
    settings = _settings()
    assert access_ttl(settings) == timedelta(minutes=60) and refresh_reuse_grace(settings) == timedelta(
        seconds=10
    )
    for key, value in (
        ("access_token_minutes", 0),
        ("access_token_minutes", 10081),
        ("refresh_reuse_grace_seconds", -1),
        ("refresh_reuse_grace_seconds", 3601),
    ):
        broken = _settings()
        broken.values[key] = value
        with pytest.raises(ConfigError, match=key):
            check_token_settings(broken)


# ---- accounts and tokens on the store --------------------------------------------------------------


@pytest.fixture
def ctx():
    from manimagent.context import local_context

    return local_context()


def _verified_user(ctx, email: str = "ada@example.com", **names: str):
    from sqlmodel import select

    from manimagent.services import auth
    from manimagent.store.models import User

    auth.register(ctx, email=email, password=PASSWORD, password2=PASSWORD, **names)
    with ctx.session() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        user.email_verified = True
        session.add(user)
        session.commit()
    return user


def test_names_are_stored_and_returned(ctx):
    from manimagent.services import auth

    _verified_user(ctx, first_name=" Ada  Augusta ", last_name="Lovelace")
    result = auth.login(ctx, email="ada@example.com", password=PASSWORD)
    assert (result.user.first_name, result.user.last_name) == ("Ada Augusta", "Lovelace")
    profile = auth.authenticate(ctx, access=result.access).model_dump()
    assert profile["first_name"] == "Ada Augusta" and profile["is_approved"] is True
    assert "is_active" not in profile and "password_hash" not in profile


def test_a_repeated_password_must_match(ctx):
    from manimagent.services import auth

    with pytest.raises(BadInput) as caught:
        auth.register(ctx, email="bob@example.com", password=PASSWORD, password2=PASSWORD.upper())
    assert caught.value.details[0]["field"] == "password2"


def test_the_same_row_encodes_the_same_pair(ctx):
    from manimagent.services import auth

    _verified_user(ctx)
    pair = auth.login(ctx, email="ada@example.com", password=PASSWORD)
    from sqlmodel import select

    from manimagent.store.models import RefreshToken

    with ctx.session() as session:
        row = session.exec(select(RefreshToken)).one()
    assert auth._encode_pair(ctx.settings, row) == auth.TokenPair(access=pair.access, refresh=pair.refresh)


def test_grace_replays_only_an_unused_successor(ctx):
    from manimagent.services import auth

    ctx.settings.values["refresh_reuse_grace_seconds"] = 60
    _verified_user(ctx)
    first = auth.login(ctx, email="ada@example.com", password=PASSWORD)
    second = auth.refresh_tokens(ctx, refresh=first.refresh)
    assert auth.refresh_tokens(ctx, refresh=first.refresh) == second  # the same new pair
    third = auth.refresh_tokens(ctx, refresh=second.refresh)
    with pytest.raises(Unauthorized, match="already used"):
        auth.refresh_tokens(ctx, refresh=first.refresh)  # its successor is used: a reuse after all
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, access=third.access)  # the family is revoked


def test_without_grace_a_reuse_revokes(ctx):
    from manimagent.services import auth

    _verified_user(ctx)
    first = auth.login(ctx, email="ada@example.com", password=PASSWORD)
    second = auth.refresh_tokens(ctx, refresh=first.refresh)
    with pytest.raises(Unauthorized, match="already used"):
        auth.refresh_tokens(ctx, refresh=first.refresh)
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, access=second.access)


# ---- the waiting list ------------------------------------------------------------------------------


def test_waitlist_service_and_cli(ctx, cli):
    from manimagent.services import auth

    assert cli("auth", "waitlist", "--json").json() == []
    empty = cli("auth", "waitlist")
    assert empty.code == 0 and "Nobody" in empty.stderr
    auth.join_waitlist(ctx, email="First@Example.com", name="First  Person", reason="  curious ")
    auth.join_waitlist(ctx, email="first@example.com", name="Someone Else")
    auth.join_waitlist(ctx, email="second@example.com")
    listed = cli("auth", "waitlist", "--json").json()
    assert [(e["email"], e["name"], e["reason"]) for e in listed] == [
        ("first@example.com", "First Person", "curious"),
        ("second@example.com", "", ""),
    ]
    table = cli("auth", "waitlist")
    assert table.code == 0 and "first@example.com" in table.stdout and "First Person" in table.stdout


def test_only_admins_list_the_waitlist(ctx):
    from dataclasses import replace

    from manimagent.services import auth

    with pytest.raises(Forbidden):
        auth.list_waitlist(replace(ctx, user_id=1, is_admin=False))


def test_a_database_before_0004_keeps_its_accounts(tmp_path):
    from manimagent.store.db import apply_migrations, dispose_engines, get_engine
    from manimagent.store.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME DEFAULT CURRENT_TIMESTAMP)"
    )
    for name, sql in MIGRATIONS:
        if name >= "0004":
            break
        old.executescript(sql)
        old.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
    old.execute(
        "INSERT INTO user (email, password_hash, email_verified, is_admin, is_active, date_joined) "
        "VALUES ('old@example.com', 'h', 1, 0, 1, '2025-01-01 00:00:00')"
    )
    old.commit()
    old.close()
    engine = get_engine(f"sqlite:///{path}")
    assert apply_migrations(engine) == []
    rows = sqlite3.connect(path).execute("SELECT email, first_name, last_name FROM user").fetchall()
    assert rows == [("old@example.com", "", "")]
    dispose_engines()
