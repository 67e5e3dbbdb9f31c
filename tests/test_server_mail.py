"""Verification mail through a real SMTP server on loopback (aiosmtpd): plain, STARTTLS + AUTH,
implicit TLS."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import re
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from server_fixtures import free_port, start_server

pytestmark = pytest.mark.server
USER, SECRET = "mailer", "s3cret pass"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.tls.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, "no mail arrived"


def _authenticator(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == USER.encode() and auth_data.password == SECRET.encode())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the server trusts it through SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _smtp(handler, **kwargs) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


def _register_and_read(tmp_path, smtp_url: str, inbox: Inbox, extra_env: dict[str, str] | None = None) -> str:
    live = start_server(tmp_path / "home", env={"MANIMAGENT_SMTP_URL": smtp_url, **(extra_env or {})})
    try:
        response = live.register("mail-me@example.com")
        assert response.status_code == 201, response.text
        inbox.wait()
        assert not (live.home / "outbox").exists() or not list((live.home / "outbox").iterdir())
        message = inbox.messages[-1]
        assert message["To"] == "mail-me@example.com"
        token = re.search(r"^Verification token: (\S+)\r?$", message.get_content(), re.MULTILINE).group(1)
        assert live.post("/api/auth/verify-email/", json={"token": token}).status_code == 200
        assert live.login("mail-me@example.com").status_code == 200
        return token
    finally:
        live.stop()


def test_plain_smtp(tmp_path):
    inbox = Inbox()
    controller, port = _smtp(inbox)
    try:
        _register_and_read(tmp_path, f"smtp://127.0.0.1:{port}", inbox)
    finally:
        controller.stop()
    assert inbox.tls == [False]


def test_starttls_with_login(tmp_path, certificate):
    inbox = Inbox()
    controller, port = _smtp(
        inbox,
        tls_context=_server_context(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    try:
        _register_and_read(
            tmp_path,
            f"smtp://{USER}:{SECRET.replace(' ', '%20')}@127.0.0.1:{port}",
            inbox,
            {"SSL_CERT_FILE": str(certificate[0])},
        )
    finally:
        controller.stop()
    assert inbox.tls == [True]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_smtps(tmp_path, certificate):
    inbox = Inbox()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is TLS from the first byte
    controller, port = _smtp(
        inbox,
        ssl_context=_server_context(certificate),
        auth_required=True,
        auth_require_tls=False,
        authenticator=_authenticator,
    )
    try:
        _register_and_read(
            tmp_path,
            f"smtps://{USER}:{SECRET.replace(' ', '%20')}@127.0.0.1:{port}",
            inbox,
            {"SSL_CERT_FILE": str(certificate[0])},
        )
    finally:
        controller.stop()
    assert inbox.tls == [True]


def test_untrusted_certificate_is_refused(tmp_path, certificate):
    inbox = Inbox()
    controller, port = _smtp(inbox, tls_context=_server_context(certificate), require_starttls=True)
    live = start_server(tmp_path / "home", env={"MANIMAGENT_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        response = live.register("mail-me@example.com")
        assert response.status_code == 503
        assert "cannot send mail" in response.json()["error"]
        assert inbox.messages == []
    finally:
        live.stop()
        controller.stop()


def test_unreachable_smtp_is_a_503_and_resend_works_later(tmp_path):
    port = free_port()  # nothing listens there
    live = start_server(tmp_path / "home", env={"MANIMAGENT_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        response = live.register("mail-me@example.com")
        assert response.status_code == 503 and response.json()["error"]
    finally:
        live.stop()
    inbox = Inbox()
    controller, port = _smtp(inbox)
    live = start_server(tmp_path / "home", env={"MANIMAGENT_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        assert (
            live.post("/api/auth/resend-verification/", json={"email": "mail-me@example.com"}).status_code
            == 200
        )
        inbox.wait()
    finally:
        live.stop()
        controller.stop()


def test_bad_smtp_url_is_a_config_error(tmp_path):
    from manimagent.errors import ConfigError
    from manimagent.mail import parse_smtp_url

    assert parse_smtp_url("smtps://u:p%40ss@mail.example.com").port == 465
    assert parse_smtp_url("smtp://mail.example.com").port == 25
    assert parse_smtp_url("smtp://u:p%40ss@h:2525").password == "p@ss"
    for url in ("http://mail.example.com", "smtp://", "smtp://host:notaport"):
        with pytest.raises(ConfigError):
            parse_smtp_url(url)
