"""The HTTP transport to a `manimagent serve` instance, which `backends/remote.RemoteBackend` speaks.

One `Transport` per server: JSON requests with the login's bearer token (refreshed once when it has
expired or is refused), the Server-Sent Events of a queued render, and downloads. Errors come back
as the ManimagentError of the HTTP status, so a command fails the same way locally and remotely.

Stdlib only (urllib), so the base install can talk to a server. The token pair of `auth login`
lives in the keyring (service `manimagent-server`, user = the server URL), or without one in the
0600 secrets file (`keys.py`).
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from manimagent.errors import (
    AllProvidersFailed,
    BadInput,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidScript,
    ManimagentError,
    NotFound,
    RateLimited,
    Unauthorized,
)
from manimagent.events import Event, EventSink, ignore
from manimagent.schemas import TokenPair

if TYPE_CHECKING:
    from manimagent.keys import SecretStorage

TOKENS_KEYRING_SERVICE = "manimagent-server"
REQUEST_TIMEOUT = 3600.0  # a request waits for whole renders
EXPIRY_MARGIN = 30  # seconds before expiry an access token is refreshed
PAGE_SIZE = 500  # the largest page the server gives
SERVER_HINT = "Is `manimagent serve` running there? Check --server or MANIMAGENT_SERVER"
STATUS_ERRORS: dict[int, type[ManimagentError]] = {
    400: BadInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: BadInput,
    422: InvalidScript,
    429: RateLimited,
    502: AllProvidersFailed,
    503: ConfigError,
}


# ---- the login: a token pair in the keyring (or the secrets file) --------------------------------


@dataclass
class TokenStore:
    """The token pair of one server (or of the local store), kept with the other secrets."""

    key: str

    def load(self) -> TokenPair | None:
        from manimagent.keys import get_secret

        raw, _ = get_secret(TOKENS_KEYRING_SERVICE, self.key)
        try:
            return TokenPair.model_validate_json(raw) if raw else None
        except ValueError:
            return None

    def save(self, pair: TokenPair) -> SecretStorage:
        """Keep the pair; returns the keys.SecretStorage it went to."""
        from manimagent.keys import store_secret

        return store_secret(TOKENS_KEYRING_SERVICE, self.key, pair.model_dump_json())

    def clear(self) -> None:
        from manimagent.keys import delete_secret

        delete_secret(TOKENS_KEYRING_SERVICE, self.key)


def token_expired(token: str, margin: int = EXPIRY_MARGIN) -> bool:
    """Whether a JWT's `exp` has passed (read without verifying: the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) <= time.time() + margin
    except (IndexError, KeyError, TypeError, ValueError):
        return True


# ---- the transport --------------------------------------------------------------------------------


@dataclass
class Transport:
    """Requests to one server, with its kept login; `events` receives a streamed render's events."""

    server: str
    events: EventSink = field(default=ignore)
    timeout: float = REQUEST_TIMEOUT

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.server)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        """One JSON request; a refused access token is refreshed once. Errors raise ManimagentError."""
        if not auth:
            return self._send(method, path, body=body, query=query, bearer=None)
        bearer = self.bearer()
        try:
            return self._send(method, path, body=body, query=query, bearer=bearer)
        except Unauthorized:
            return self._send(method, path, body=body, query=query, bearer=self._refresh().access)

    def pages(self, path: str, query: dict[str, Any], limit: int | None, offset: int = 0) -> list[Any]:
        """`limit` rows from `offset`, at most PAGE_SIZE per request; `limit` None: until the end."""
        rows: list[Any] = []
        while limit is None or len(rows) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(rows))
            page = self.request("GET", path, query={**query, "limit": size, "offset": offset + len(rows)})
            rows.extend(page)
            if len(page) < size:
                break
        return rows

    def stream_events(self, execution_id: str) -> dict[str, Any] | None:
        """Follow GET /api/agents/executions/{id}/events/ (Server-Sent Events), handing each typed event
        to `events`; returns the `done` document (None when the stream ended without one)."""
        url = f"{self.server}/api/agents/executions/{segment(execution_id)}/events/"
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {self.bearer()}"}
        with (
            self._answers(),
            urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=self.timeout
            ) as response,
        ):
            for doc in read_sse(response):
                if doc.get("event") == "done":  # drawn by the caller, once the video is on this machine
                    return doc
                event = event_from_dict(doc)
                if event is not None:
                    self.events(event)
        return None

    def download(self, url: str, target: Path) -> None:
        """Copy the file at `url` (a signed media URL, no login needed) to `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=self.timeout) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle)

    def login_hint(self) -> str:
        return f"Run `manimagent auth login --server {self.server}`"

    def bearer(self) -> str:
        """The kept login's access token, refreshed first when it has expired."""
        pair = self.tokens.load()
        if pair is None:
            raise Unauthorized(f"not logged in to {self.server}", hint=self.login_hint())
        if token_expired(pair.access):
            pair = self._refresh()
        return pair.access

    def _refresh(self) -> TokenPair:
        pair = self.tokens.load()
        if pair is None or token_expired(pair.refresh, margin=0):
            raise Unauthorized(f"the login to {self.server} expired", hint=self.login_hint())
        try:
            answer = self._send(
                "POST", "/api/auth/token/refresh/", body={"refresh": pair.refresh}, query=None, bearer=None
            )
        except Unauthorized as exc:
            self.tokens.clear()
            raise Unauthorized(
                f"the login to {self.server} ended: {exc.message}", hint=self.login_hint()
            ) from None
        fresh = TokenPair.model_validate(answer)
        self.tokens.save(fresh)
        return fresh

    def _send(
        self, method: str, path: str, *, body: Any, query: dict[str, Any] | None, bearer: str | None
    ) -> Any:
        params = {key: value for key, value in (query or {}).items() if value is not None}
        url = self.server + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        with self._answers(), urllib.request.urlopen(request, timeout=self.timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    @contextmanager
    def _answers(self) -> Iterator[None]:
        """An HTTP error as its ManimagentError, a server that does not answer as a ConfigError."""
        try:
            yield
        except urllib.error.HTTPError as exc:
            raise error_from(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"cannot reach {self.server}: {reason}", hint=SERVER_HINT) from None


def error_from(status: int, raw: bytes) -> ManimagentError:
    """The ManimagentError an error answer stands for (its `error`, `hint` and `details`)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("error") or f"the server answered {status}").rstrip(".")
    kind = STATUS_ERRORS.get(status, ManimagentError)
    return kind(message, hint=body.get("hint"), details=body.get("details"))


def segment(ref: str | int) -> str:
    """`ref` as one path segment of a URL."""
    return quote(str(ref).strip(), safe="")


# ---- the event stream -----------------------------------------------------------------------------


def read_sse(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The `data:` documents of a Server-Sent Events stream (bytes lines), one per event."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def event_from_dict(doc: dict[str, Any]) -> Event | None:
    """The typed event (manimagent.events) a streamed document describes; None for an unknown kind."""
    import dataclasses

    from manimagent import events

    kinds = {
        cls.kind: cls
        for cls in vars(events).values()
        if isinstance(cls, type) and issubclass(cls, events.Event) and cls is not events.Event
    }
    cls = kinds.get(str(doc.get("event")))
    if cls is None:
        return None
    names = {item.name for item in dataclasses.fields(cls)}
    try:
        return cls(**{key: value for key, value in doc.items() if key in names})
    except TypeError:
        return None
