"""The HTTP client of a `manimagent serve` instance, shaped like `manimagent.services`.

Each function has the name, keyword arguments and return schema of its service function, with a
RemoteContext in place of the Context, so a CLI command swaps one for the other:

    svc = client.pick(manimagent.services.scripts, server)   # this module when a server is set
    svc.list_scripts(client.context_for(server), status="failed")

Stdlib only (urllib), so the base install can talk to a server. The token pair of `auth login`
lives in the keyring (service `manimagent-server`, user = the server URL), or without one in the
0600 secrets file (`keys.py`), and is refreshed when the access token expires.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode, urlsplit

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
from manimagent.events import Done, EventSink, ignore
from manimagent.schemas import (
    CancelResult,
    ContainerPublic,
    ContainerStatus,
    ExecuteResult,
    ExecutionDetail,
    ExecutionPublic,
    GenerateResult,
    MessageResult,
    ProviderPublic,
    ScriptGenerateResult,
    ScriptPublic,
    ScriptSummary,
    TokenPair,
    UserPublic,
    generate_result,
)
from manimagent.settings import normalize_server, resolve_server  # noqa: F401 - part of the client's API

TOKENS_KEYRING_SERVICE = "manimagent-server"
REQUEST_TIMEOUT = 3600.0  # a request waits for whole renders
EXPIRY_MARGIN = 30  # seconds before expiry an access token is refreshed
PAGE_SIZE = 500  # the largest page the server gives
RENDER_OPTIONS = (
    "engine",
    "container",
    "quality",
    "format",
    "max_attempts",
    "scenes",
    "still_seconds",
    "partial",
)
# service functions without an endpoint: configuration is changed on the server's machine
LOCAL_ONLY = frozenset(
    {
        "add_provider",
        "update_provider",
        "remove_provider",
        "set_key",
        "test_provider",
        "add_container",
        "remove_container",
        "build_image",
    }
)
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


# ---- choosing local or remote ---------------------------------------------------------------


def pick(local_module: ModuleType, server: str | None) -> ModuleType:
    """This module when a server is set, else the local services module."""
    import sys

    return sys.modules[__name__] if server else local_module


def service(name: str, server: str | None) -> ModuleType:
    """`manimagent.services.<name>` locally, this module when a server is set (same functions)."""
    import importlib

    return pick(importlib.import_module(f"manimagent.services.{name}"), server)


def context_for(server: str | None, events: EventSink = ignore):
    """A RemoteContext for `server`, else the local CLI context."""
    if server:
        return RemoteContext(server=normalize_server(server), events=events)
    from manimagent.context import local_context

    return local_context(events=events)


# ---- the session: a token pair in the keyring (or the secrets file) --------------------------


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

    def save(self, pair: TokenPair):
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


@dataclass
class RemoteContext:
    """What the client functions take instead of a Context: the server and where events go."""

    server: str
    events: EventSink = field(default=ignore)
    timeout: float = REQUEST_TIMEOUT
    user_id: int | None = None  # the server decides who you are

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.server)


# ---- transport ------------------------------------------------------------------------------


def request(
    ctx: RemoteContext,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, Any] | None = None,
    auth: bool = True,
) -> Any:
    """One JSON request; a refused access token is refreshed once. Errors raise ManimagentError."""
    if not auth:
        return _send(ctx, method, path, body=body, query=query, bearer=None)
    bearer = _bearer(ctx)
    try:
        return _send(ctx, method, path, body=body, query=query, bearer=bearer)
    except Unauthorized:
        return _send(ctx, method, path, body=body, query=query, bearer=_refresh(ctx).access)


def _send(
    ctx: RemoteContext, method: str, path: str, *, body: Any, query: dict[str, Any] | None, bearer: str | None
) -> Any:
    params = {key: value for key, value in (query or {}).items() if value is not None}
    url = ctx.server + path + (f"?{urlencode(params)}" if params else "")
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers, method=method), timeout=ctx.timeout
        ) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise _error_from(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach {ctx.server}: {reason}", hint=SERVER_HINT) from None
    return json.loads(raw) if raw else None


def _error_from(status: int, raw: bytes) -> ManimagentError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("error") or f"the server answered {status}").rstrip(".")
    kind = STATUS_ERRORS.get(status, ManimagentError)
    details = body.get("details")
    if kind is RateLimited:
        return RateLimited(message, hint=body.get("hint"), details=details)
    return kind(message, hint=body.get("hint"), details=details)


def _bearer(ctx: RemoteContext) -> str:
    pair = ctx.tokens.load()
    if pair is None:
        raise Unauthorized(
            f"not logged in to {ctx.server}", hint=f"Run `manimagent auth login --server {ctx.server}`"
        )
    if token_expired(pair.access):
        pair = _refresh(ctx)
    return pair.access


def _refresh(ctx: RemoteContext) -> TokenPair:
    pair = ctx.tokens.load()
    if pair is None or token_expired(pair.refresh, margin=0):
        raise Unauthorized(
            f"the login to {ctx.server} expired", hint=f"Run `manimagent auth login --server {ctx.server}`"
        )
    try:
        fresh = TokenPair.model_validate(
            _send(
                ctx,
                "POST",
                "/api/auth/token/refresh/",
                body={"refresh": pair.refresh},
                query=None,
                bearer=None,
            )
        )
    except Unauthorized as exc:
        ctx.tokens.clear()
        raise Unauthorized(
            f"the login to {ctx.server} ended: {exc.message}",
            hint=f"Run `manimagent auth login --server {ctx.server}`",
        ) from None
    ctx.tokens.save(fresh)
    return fresh


# ---- auth -----------------------------------------------------------------------------------


def register(ctx: RemoteContext, *, email: str, password: str, **_ignored: Any) -> MessageResult:
    return MessageResult.model_validate(
        request(ctx, "POST", "/api/auth/register/", body={"email": email, "password": password}, auth=False)
    )


def verify_email(ctx: RemoteContext, *, token: str) -> MessageResult:
    return MessageResult.model_validate(
        request(ctx, "POST", "/api/auth/verify-email/", body={"token": token}, auth=False)
    )


def resend_verification(ctx: RemoteContext, *, email: str, **_ignored: Any) -> MessageResult:
    return MessageResult.model_validate(
        request(ctx, "POST", "/api/auth/resend-verification/", body={"email": email}, auth=False)
    )


def login(ctx: RemoteContext, *, email: str, password: str, **_ignored: Any) -> TokenPair:
    """Sign in and keep the pair in the keyring for the next commands."""
    pair = TokenPair.model_validate(
        request(ctx, "POST", "/api/auth/login/", body={"email": email, "password": password}, auth=False)
    )
    ctx.tokens.save(pair)
    return pair


def refresh_tokens(ctx: RemoteContext, *, refresh: str | None = None) -> TokenPair:
    if refresh is None:
        return _refresh(ctx)
    return TokenPair.model_validate(
        request(ctx, "POST", "/api/auth/token/refresh/", body={"refresh": refresh}, auth=False)
    )


def logout(ctx: RemoteContext, *, refresh: str | None = None) -> MessageResult:
    """Revoke the login on the server (when it is still known) and forget it here."""
    pair = ctx.tokens.load()
    token = refresh or (pair.refresh if pair else None)
    result = MessageResult(message="Logged out.")
    if token:
        try:
            result = MessageResult.model_validate(
                request(ctx, "POST", "/api/auth/logout/", body={"refresh": token}, auth=False)
            )
        except Unauthorized:
            pass
    ctx.tokens.clear()
    return result


def get_profile(ctx: RemoteContext) -> UserPublic:
    return UserPublic.model_validate(request(ctx, "GET", "/api/auth/profile/"))


def list_users(ctx: RemoteContext, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]:
    """The server's accounts (an administrator's login)."""
    return [UserPublic.model_validate(row) for row in _pages(ctx, "/api/auth/users/", {}, limit, offset)]


def delete_user(ctx: RemoteContext, *, email: str, reassign_to: str | None = None):
    """Delete an account on the server (an administrator's login)."""
    from manimagent.services.auth import AccountDeleted

    answer = request(ctx, "DELETE", f"/api/auth/users/{_segment(email)}/", query={"reassign_to": reassign_to})
    return AccountDeleted.model_validate(answer)


# ---- scripts --------------------------------------------------------------------------------


def list_scripts(
    ctx: RemoteContext, *, status: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ScriptSummary]:
    """A page of your scripts (`limit` None: every page)."""
    rows = _pages(ctx, "/api/agents/scripts/", {"status": status}, limit, offset)
    return [ScriptSummary.model_validate(row) for row in rows]


def get_script(ctx: RemoteContext, *, ref: str) -> ScriptPublic:
    return ScriptPublic.model_validate(request(ctx, "GET", f"/api/agents/scripts/{_segment(ref)}/"))


def import_script(
    ctx: RemoteContext, *, path: str | None = None, code: str | None = None, prompt: str | None = None
) -> ScriptPublic:
    """Upload a local Manim file (or text) as a script on the server."""
    if code is None:
        if path is None:
            raise BadInput("give a file to import")
        from manimagent.scriptcheck.source import read_script_file

        code = read_script_file(path)
    if prompt is None and path:
        prompt = f"imported from {Path(path).name}"
    body = {"code": code, "prompt": prompt}
    return ScriptPublic.model_validate(request(ctx, "POST", "/api/agents/scripts/import/", body=body))


def export_script(ctx: RemoteContext, *, ref: str, output: str | None = None) -> str:
    script = get_script(ctx, ref=ref)
    if output is None:
        return script.content
    from manimagent.scriptcheck.source import write_script_file

    return write_script_file(output, script.content, f"{script.scene_class or 'scene'}.py")


def remove_script(ctx: RemoteContext, *, ref: str) -> str:
    script = get_script(ctx, ref=ref)
    request(ctx, "DELETE", f"/api/agents/scripts/{_segment(script.id)}/")
    return script.id


def generate_script(
    ctx: RemoteContext,
    *,
    prompt: str,
    provider: str | None = None,
    model: str | None = None,
    auto_execute: bool = False,
    **_ignored: Any,
) -> ScriptGenerateResult:
    body = {"prompt": prompt, "provider": provider, "model": model, "auto_execute": auto_execute}
    return ScriptGenerateResult.model_validate(
        request(ctx, "POST", "/api/agents/scripts/generate/", body=_compact(body))
    )


def refine_script(
    ctx: RemoteContext,
    *,
    ref: str,
    instruction: str,
    provider: str | None = None,
    model: str | None = None,
    auto_execute: bool = False,
    **render: Any,
) -> ScriptGenerateResult:
    body = {
        "instruction": instruction,
        "provider": provider,
        "model": model,
        "auto_execute": auto_execute,
        **_render_options(render),
    }
    return ScriptGenerateResult.model_validate(
        request(ctx, "POST", f"/api/agents/scripts/{_segment(ref)}/refine/", body=_compact(body))
    )


def generate(
    ctx: RemoteContext,
    *,
    prompt: str,
    provider: str | None = None,
    model: str | None = None,
    execute: bool = True,
    output: str | None = None,
    **render: Any,
) -> GenerateResult:
    """`manimagent generate` on a server: generate (and render), then download to `output`."""
    body = {
        "prompt": prompt,
        "provider": provider,
        "model": model,
        "auto_execute": execute,
        **_render_options(render),
    }
    if execute and ctx.events is not ignore:  # the render is queued and its progress streamed
        answer = request(ctx, "POST", "/api/agents/scripts/generate/", body=_compact({**body, "wait": False}))
        if _is_queued(answer):
            rendered = _announce(ctx, _deliver(ctx, _follow(ctx, answer), output))
            return generate_result(_written(ctx, answer["script_id"], rendered), rendered)
        result = ScriptGenerateResult.model_validate(answer)
    else:
        result = ScriptGenerateResult.model_validate(
            request(ctx, "POST", "/api/agents/scripts/generate/", body=_compact(body))
        )
    return generate_result(result, _deliver(ctx, result.execution, output) if result.execution else None)


def _written(ctx: RemoteContext, script_id: str, rendered: ExecuteResult) -> ScriptGenerateResult:
    """The generate document of a script whose render was queued (and has finished: `rendered`)."""
    script = get_script(ctx, ref=script_id)
    message = "Script generated." if rendered.success else "Script generated. Rendering failed."
    return ScriptGenerateResult(
        success=rendered.success,
        script_id=script.id,
        message=message,
        provider=script.provider,
        model=script.model,
        status=script.status,
        execution=rendered,
        error=rendered.error,
    )


def render_file(ctx: RemoteContext, *, path: str, output: str | None = None, **options: Any) -> ExecuteResult:
    """`manimagent render FILE` on a server: upload, then render (repairs only with max_attempts > 1)."""
    script = import_script(ctx, path=path, prompt=f"rendered from {Path(path).name}")
    options["max_attempts"] = options.get("max_attempts") or 1
    return execute_script(ctx, ref=script.id, output=output, **options)


def execute_script(
    ctx: RemoteContext, *, ref: str, output: str | None = None, **options: Any
) -> ExecuteResult:
    """Render on the server; with `output`, the video is downloaded to that local path."""
    body = _compact(_render_options(options))
    path = f"/api/agents/scripts/{_segment(ref)}/execute/"
    if ctx.events is ignore:
        result = ExecuteResult.model_validate(request(ctx, "POST", path, body=body))
        return _deliver(ctx, result, output)
    # queued, its progress drawn from the event stream as a local render's is
    return _announce(
        ctx, _deliver(ctx, _follow(ctx, request(ctx, "POST", path, body={**body, "wait": False})), output)
    )


def _announce(ctx: RemoteContext, result: ExecuteResult) -> ExecuteResult:
    """The `done` event of a streamed render, with the path the video has on this machine."""
    ctx.events(Done(success=result.success, output_path=result.output_path, error=result.error))
    return result


# ---- progress: the event stream of a queued render ------------------------------------------


def _is_queued(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("status") == "queued" and bool(answer.get("execution_id"))


def _follow(ctx: RemoteContext, answer: Any) -> ExecuteResult:
    """The result of a render: at once when it is not queued, else after its events (drawn
    through ctx.events) end with `done`, which carries the result."""
    if not _is_queued(answer):
        return ExecuteResult.model_validate(answer)
    done = stream_events(ctx, answer["execution_id"])
    if done and isinstance(done.get("result"), dict):
        return ExecuteResult.model_validate(done["result"])
    row = get_execution(ctx, ref=answer["execution_id"])  # a stream that ended without its result
    return ExecuteResult(
        success=row.is_successful,
        script_id=row.script,
        execution_id=row.id,
        output_path=row.output_path,
        attempts=row.attempt_number,
        executions=[row.id],
        status=row.status,
        error=row.error,
    )


def stream_events(ctx: RemoteContext, execution_id: str) -> dict[str, Any] | None:
    """Follow GET /api/agents/executions/{id}/events/ (Server-Sent Events), handing each typed event
    to ctx.events; returns the `done` document (None when the stream ended without one)."""
    url = f"{ctx.server}/api/agents/executions/{_segment(execution_id)}/events/"
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {_bearer(ctx)}"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=ctx.timeout
        ) as response:
            for doc in read_sse(response):
                if doc.get("event") == "done":  # drawn by the caller, once the video is on this machine
                    return doc
                event = event_from_dict(doc)
                if event is not None:
                    ctx.events(event)
    except urllib.error.HTTPError as exc:
        raise _error_from(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(
            f"cannot reach {ctx.server}: {getattr(exc, 'reason', exc)}", hint=SERVER_HINT
        ) from None
    return None


def read_sse(lines) -> Any:
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


def event_from_dict(doc: dict[str, Any]):
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


# ---- executions -----------------------------------------------------------------------------


def list_executions(
    ctx: RemoteContext, *, script_ref: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ExecutionPublic]:
    """A page of your executions (`limit` None: every page)."""
    rows = _pages(ctx, "/api/agents/executions/", {"script": script_ref}, limit, offset)
    return [ExecutionPublic.model_validate(row) for row in rows]


def _pages(
    ctx: RemoteContext, path: str, query: dict[str, Any], limit: int | None, offset: int = 0
) -> list[Any]:
    """`limit` rows from `offset`, a page of at most PAGE_SIZE per request; `limit` None: until the end."""
    rows: list[Any] = []
    while limit is None or len(rows) < limit:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(rows))
        page = request(ctx, "GET", path, query={**query, "limit": size, "offset": offset + len(rows)})
        rows.extend(page)
        if len(page) < size:
            break
    return rows


def get_execution(ctx: RemoteContext, *, ref: str) -> ExecutionDetail:
    return ExecutionDetail.model_validate(request(ctx, "GET", f"/api/agents/executions/{_segment(ref)}/"))


def retry_execution(
    ctx: RemoteContext,
    *,
    ref: str,
    max_attempts: int | None = None,
    engine: str | None = None,
    container: str | None = None,
) -> ExecuteResult:
    body = _compact({"max_attempts": max_attempts, "engine": engine, "container": container})
    return ExecuteResult.model_validate(
        request(ctx, "POST", f"/api/agents/executions/{_segment(ref)}/retry/", body=body)
    )


def cancel_execution(ctx: RemoteContext, *, ref: str) -> CancelResult:
    return CancelResult.model_validate(
        request(ctx, "POST", f"/api/agents/executions/{_segment(ref)}/cancel/")
    )


# ---- providers and containers ---------------------------------------------------------------


def list_providers(ctx: RemoteContext) -> list[ProviderPublic]:
    return [ProviderPublic.model_validate(row) for row in request(ctx, "GET", "/api/agents/providers/")]


def list_containers(ctx: RemoteContext) -> list[ContainerPublic]:
    return [ContainerPublic.model_validate(row) for row in request(ctx, "GET", "/api/agents/containers/")]


def start_container(ctx: RemoteContext, *, ref: str | int) -> ContainerStatus:
    return ContainerStatus.model_validate(
        request(ctx, "POST", f"/api/agents/containers/{_segment(ref)}/start/")
    )


def stop_container(ctx: RemoteContext, *, ref: str | int) -> ContainerStatus:
    return ContainerStatus.model_validate(
        request(ctx, "POST", f"/api/agents/containers/{_segment(ref)}/stop/")
    )


def check_status(ctx: RemoteContext, *, ref: str | int) -> ContainerStatus:
    return ContainerStatus.model_validate(
        request(ctx, "POST", f"/api/agents/containers/{_segment(ref)}/check_status/")
    )


def __getattr__(name: str) -> Any:
    if name in LOCAL_ONLY:
        raise BadInput(
            f"`{name.replace('_', ' ')}` is not available through a server",
            hint="Run it on the server's machine, without --server",
        )
    raise AttributeError(name)


# ---- helpers --------------------------------------------------------------------------------


def _segment(ref: str | int) -> str:
    from urllib.parse import quote

    return quote(str(ref).strip(), safe="")


def _render_options(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options.get(key) for key in RENDER_OPTIONS}


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _deliver(ctx: RemoteContext, result: ExecuteResult, output: str | None) -> ExecuteResult:
    """Download the finished video through its signed URL, to `output` or else into this home's
    media folder, so the path printed is one on this machine (the server's own path is not)."""
    if not result.success or not result.output_url:
        return result
    target = Path(output).expanduser() if output else _downloads_folder(ctx)
    if target.is_dir():
        target = target / Path(urlsplit(result.output_url).path).name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            urllib.request.urlopen(result.output_url, timeout=ctx.timeout) as response,
            open(target, "wb") as handle,
        ):
            shutil.copyfileobj(response, handle)
    except (OSError, urllib.error.URLError) as exc:
        if not output:  # not asked for: the server's copy and its output_url still stand
            return result
        raise BadInput(
            f"cannot download the video to {output}: {exc}", hint="It stays on the server; see output_url"
        ) from exc
    return result.model_copy(update={"output_path": str(target.resolve())})


def _downloads_folder(ctx: RemoteContext) -> Path:
    """`<home>/media/from-server/<host_port>/`: where a server's videos land without --output."""
    from manimagent.paths import get_paths

    parts = urlsplit(ctx.server)
    folder = get_paths().media / "from-server" / (parts.netloc.replace(":", "_") or "server")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---- the same session on the local store ----------------------------------------------------


class LocalAuth:
    """`auth` without a server: the services on the local store, the login kept like a server's."""

    @staticmethod
    def _store(ctx) -> TokenStore:
        return TokenStore(f"local:{ctx.settings.paths.data}")

    def register(self, ctx, *, email: str, password: str) -> MessageResult:
        from manimagent.services import auth

        return auth.register(ctx, email=email, password=password)

    def verify_email(self, ctx, *, token: str) -> MessageResult:
        from manimagent.services import auth

        return auth.verify_email(ctx, token=token)

    def resend_verification(self, ctx, *, email: str) -> MessageResult:
        from manimagent.services import auth

        return auth.resend_verification(ctx, email=email)

    def login(self, ctx, *, email: str, password: str) -> TokenPair:
        from manimagent.services import auth

        pair = auth.login(ctx, email=email, password=password)
        self._store(ctx).save(pair)
        return pair

    def get_profile(self, ctx) -> UserPublic:
        from manimagent.services import auth

        pair = self._store(ctx).load()
        if pair is None:
            raise Unauthorized("not logged in", hint="Run `manimagent auth login --email E`")
        try:
            return auth.authenticate(ctx, access=pair.access)
        except Unauthorized:
            pair = auth.refresh_tokens(ctx, refresh=pair.refresh)
            self._store(ctx).save(pair)
            return auth.authenticate(ctx, access=pair.access)

    def logout(self, ctx) -> MessageResult:
        from manimagent.services import auth

        store = self._store(ctx)
        pair = store.load()
        if pair is not None:
            try:
                auth.logout(ctx, refresh=pair.refresh)
            except Unauthorized:
                pass
        store.clear()
        return MessageResult(message="Logged out.")

    def promote(self, ctx, *, email: str) -> UserPublic:
        from manimagent.services import auth

        return auth.promote(ctx, email=email)

    def list_users(self, ctx, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]:
        from manimagent.services import auth

        return auth.list_users(ctx, limit=limit, offset=offset)

    def delete_user(self, ctx, *, email: str, reassign_to: str | None = None):
        from manimagent.services import auth

        return auth.delete_user(ctx, email=email, reassign_to=reassign_to)


def auth_backend(server: str | None):
    """(functions, context) of the `auth` commands: this module for a server, else LocalAuth."""
    server = resolve_server(server)
    if server:
        import sys

        return sys.modules[__name__], RemoteContext(server=server)
    return LocalAuth(), context_for(None)
