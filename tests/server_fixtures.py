"""A real `manimagent serve` on a free loopback port, and helpers to use it over HTTP.

Import the fixtures into a test module: `from server_fixtures import server, fresh_server, ...`.
Each server runs in its own process with its own MANIMAGENT_HOME and a known secret key.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, SCRUBBED_PREFIXES, TESTS

PASSWORD = "correct horse battery staple"
TOKEN_LINE = re.compile(r"^Verification token: (\S+)\r?$", re.MULTILINE)
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(SCRUBBED_PREFIXES)}
    env.update(
        MANIMAGENT_HOME=str(home),
        MANIMAGENT_RENDER_CACHE="0",  # as in conftest: the cache's own tests turn it on
        NO_COLOR="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra or {})
    return env


@dataclass
class Account:
    email: str
    password: str
    access: str = ""
    refresh: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@dataclass
class LiveServer:
    url: str
    home: Path
    secret: str | None
    process: subprocess.Popen
    log: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=300)

    # -- plumbing -------------------------------------------------------------------------

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def settings(self):
        """Settings of the server's home (to reach its database directly)."""
        from manimagent.settings import load_settings

        with _env(MANIMAGENT_HOME=str(self.home)):
            settings = load_settings()
        if self.secret:
            settings.values["secret_key"] = self.secret
        return settings

    def context(self, user_id: int | None = None):
        from manimagent.context import Context

        return Context(settings=self.settings(), user_id=user_id, is_admin=user_id is None)

    def db(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        import sqlite3

        with sqlite3.connect(self.home / "manimagent.db", timeout=30) as conn:
            rows = conn.execute(sql, params or {}).fetchall()
        return rows

    # -- requests -------------------------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    # -- accounts -------------------------------------------------------------------------

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        messages = []
        for path in sorted((self.home / "outbox").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address:
                messages.append(message)
        return messages

    def outbox_token(self, address: str) -> str:
        """The token of the newest verification mail to `address`."""
        for message in reversed(self.mails_to(address)):
            found = TOKEN_LINE.search(message.get_content())
            if found:
                return found.group(1)
        raise AssertionError(f"no verification mail to {address} in {self.home / 'outbox'}")

    def register(self, address: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/api/auth/register/", json={"email": address, "password": password})

    def login(self, address: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/api/auth/login/", json={"email": address, "password": password})

    def account(self, address: str | None = None, *, admin: bool = False) -> Account:
        """A registered, verified, logged-in account (over HTTP; promoted to admin on the store)."""
        address = address or f"user-{secrets.token_hex(4)}@example.com"
        assert self.register(address).status_code == 201
        assert (
            self.post("/api/auth/verify-email/", json={"token": self.outbox_token(address)}).status_code
            == 200
        )
        if admin:
            from manimagent.services.auth import promote

            promote(self.context(), email=address)
        pair = self.login(address).json()
        return Account(address, PASSWORD, pair["access"], pair["refresh"])

    def token(
        self, claims: dict[str, Any], *, ttl: timedelta = timedelta(minutes=15), secret: str | None = None
    ) -> str:
        """A JWT signed like the server's (or with another secret), for expiry and forgery tests."""
        import jwt

        now = datetime.now(UTC)
        body = {"jti": secrets.token_hex(8), "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(body, secret or self.secret, algorithm="HS256")


@contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_server(
    home: Path, *, secret: str | None = "test-secret-" + "x" * 40, env: dict[str, str] | None = None
) -> LiveServer:
    """`manimagent serve` in a child process; returns once /openapi.json answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    extra = dict(env or {})
    if secret:
        extra["MANIMAGENT_SECRET_KEY"] = secret
    log = home.parent / f"serve-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "manimagent", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env(home, extra),
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", home, secret, process, log)
    _wait_until_up(server)
    return server


def _wait_until_up(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"serve exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if server.get("/openapi.json").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"serve did not start in {START_TIMEOUT}s:\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per test module (its rate limits count for the whole module)."""
    live = start_server(tmp_path_factory.mktemp("serve") / "home")
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test alone (fresh rate limits)."""
    live = start_server(tmp_path / "server-home")
    yield live
    live.stop()
