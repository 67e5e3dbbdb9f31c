"""Outgoing mail: SMTP through MANIMAGENT_SMTP_URL, else one RFC 5322 `.eml` file per message in the outbox.

`smtp://user:pass@host:port` upgrades with STARTTLS when the server offers it; `smtps://` is implicit TLS.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from manimagent.errors import ConfigError
from manimagent.settings import SMTP_URL_ENV, Settings

SMTP_TIMEOUT = 30.0
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:port` or `smtps://...` as its parts; ConfigError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            f"{SMTP_URL_ENV} must look like smtp://user:pass@host:port or smtps://...",
            hint="Fix the URL, or unset it to write mail to the outbox",
        )
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError(f"{SMTP_URL_ENV} has an invalid port", hint="Fix the URL") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpTarget(parts.scheme, parts.hostname, port, username, password)


def build_message(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="manimagent.local")
    message.set_content(body)
    return message


def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> Path | None:
    """Send one plain-text message; returns the `.eml` path when it went to the outbox."""
    message = build_message(sender=settings.mail_from, to=to, subject=subject, body=body)
    if settings.smtp_url:
        send_smtp(parse_smtp_url(settings.smtp_url), message)
        return None
    return write_outbox(settings.paths.outbox, message)


def write_outbox(outbox: Path, message: EmailMessage) -> Path:
    """One message as one `.eml` file, written completely before it appears under its name."""
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(message.as_bytes(policy=email.policy.SMTP))  # CRLF line ends, as RFC 5322 has them
    partial.replace(path)
    return path


def send_smtp(target: SmtpTarget, message: EmailMessage) -> None:
    try:
        with _connect(target) as client:
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise ConfigError(
            f"cannot send mail through {target.host}:{target.port}: {exc}", hint=f"Check {SMTP_URL_ENV}"
        ) from exc


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if target.scheme == "smtps":
        return smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT, context=context)
    client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT)
    try:
        client.ehlo()
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
    except BaseException:
        client.close()
        raise
    return client
