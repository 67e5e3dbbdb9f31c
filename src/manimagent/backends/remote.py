"""`RemoteBackend`: every resource through one `manimagent serve`, over one `client.Transport`.

Each method has the name, keyword arguments and result schema of its local counterpart. What
changes the configuration of a machine (providers, containers, promoting an account) is done on the
server's machine: here it is refused with one line (`refused_through_server`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Unpack
from urllib.parse import urlsplit

from manimagent.client import REQUEST_TIMEOUT, Transport, segment
from manimagent.errors import BadInput, Unauthorized
from manimagent.events import Done, EventSink, ignore
from manimagent.render.base import RENDER_CHOICES
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
    WaitlistEntryPublic,
    generate_result,
)

if TYPE_CHECKING:
    from manimagent.backends.protocols import (
        Auth,
        Containers,
        Executions,
        Generate,
        GenerateChoices,
        Providers,
        Render,
        RenderChoices,
        Scripts,
    )
    from manimagent.keys import SecretStorage
    from manimagent.schemas import ImageBuildResult, ProviderTestResult
    from manimagent.services.auth import AccountDeleted

RENDER_OPTIONS = (*RENDER_CHOICES, "scenes")


def refused_through_server(operation: str) -> NoReturn:
    """The one-line refusal of an operation that is done on the server's machine (exit 2)."""
    raise BadInput(
        f"`{operation.replace('_', ' ')}` is not available through a server",
        hint="Run it on the server's machine, without --server",
    )


class RemoteBackend:
    """Every resource on the server at `server` (a normalized URL), with the login kept for it."""

    def __init__(self, server: str, *, events: EventSink = ignore, timeout: float = REQUEST_TIMEOUT) -> None:
        self.server: str | None = server
        self.transport = Transport(server=server, events=events, timeout=timeout)
        http = self.transport
        self.scripts: Scripts = RemoteScripts(http)
        self.executions: Executions = RemoteExecutions(http)
        self.render: Render = RemoteRender(http)
        self.generate: Generate = RemoteGenerate(http)
        self.providers: Providers = RemoteProviders(http)
        self.containers: Containers = RemoteContainers(http)
        self.auth: Auth = RemoteAuth(http)


class RemoteScripts:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def list_scripts(
        self, *, status: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ScriptSummary]:
        """A page of your scripts (`limit` None: every page)."""
        rows = self.http.pages("/api/agents/scripts/", {"status": status}, limit, offset)
        return [ScriptSummary.model_validate(row) for row in rows]

    def get_script(self, *, ref: str) -> ScriptPublic:
        return ScriptPublic.model_validate(self.http.request("GET", f"/api/agents/scripts/{segment(ref)}/"))

    def import_script(
        self, *, path: str | None = None, code: str | None = None, prompt: str | None = None
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
        return ScriptPublic.model_validate(
            self.http.request("POST", "/api/agents/scripts/import/", body=body)
        )

    def export_script(self, *, ref: str, output: str | None = None) -> str:
        script = self.get_script(ref=ref)
        if output is None:
            return script.content
        from manimagent.scriptcheck.source import write_script_file

        return write_script_file(output, script.content, f"{script.scene_class or 'scene'}.py")

    def remove_script(self, *, ref: str) -> str:
        script = self.get_script(ref=ref)
        self.http.request("DELETE", f"/api/agents/scripts/{segment(script.id)}/")
        return script.id


class RemoteExecutions:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def list_executions(
        self, *, script_ref: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ExecutionPublic]:
        """A page of your executions (`limit` None: every page)."""
        rows = self.http.pages("/api/agents/executions/", {"script": script_ref}, limit, offset)
        return [ExecutionPublic.model_validate(row) for row in rows]

    def get_execution(self, *, ref: str) -> ExecutionDetail:
        return ExecutionDetail.model_validate(
            self.http.request("GET", f"/api/agents/executions/{segment(ref)}/")
        )

    def retry_execution(
        self,
        *,
        ref: str,
        max_attempts: int | None = None,
        engine: str | None = None,
        container: str | None = None,
    ) -> ExecuteResult:
        body = _compact({"max_attempts": max_attempts, "engine": engine, "container": container})
        return ExecuteResult.model_validate(
            self.http.request("POST", f"/api/agents/executions/{segment(ref)}/retry/", body=body)
        )

    def cancel_execution(self, *, ref: str) -> CancelResult:
        return CancelResult.model_validate(
            self.http.request("POST", f"/api/agents/executions/{segment(ref)}/cancel/")
        )


class RemoteRender:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def render_file(
        self,
        *,
        path: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult:
        """Upload FILE, then render it (repairs only with max_attempts > 1)."""
        script = RemoteScripts(self.http).import_script(path=path, prompt=f"rendered from {Path(path).name}")
        choices["max_attempts"] = choices.get("max_attempts") or 1
        return self.execute_script(ref=script.id, output=output, scenes=scenes, **choices)

    def execute_script(
        self,
        *,
        ref: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult:
        """Render on the server; the video is downloaded to `output` (else this home's media folder)."""
        body = _compact(_render_options({**choices, "scenes": scenes}))
        path = f"/api/agents/scripts/{segment(ref)}/execute/"
        if self.http.events is ignore:
            result = ExecuteResult.model_validate(self.http.request("POST", path, body=body))
            return _deliver(self.http, result, output)
        # queued, its progress drawn from the event stream as a local render's is
        answer = self.http.request("POST", path, body={**body, "wait": False})
        return _announce(self.http, _deliver(self.http, _follow(self.http, answer), output))


class RemoteGenerate:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def generate(
        self,
        *,
        prompt: str,
        provider: str | None = None,
        model: str | None = None,
        execute: bool = True,
        output: str | None = None,
        voiceover: bool = False,
        **choices: Unpack[RenderChoices],
    ) -> GenerateResult:
        """Generate (and render), then download the video to `output`."""
        if voiceover:
            refused_through_server("voiceover")
        body = {"prompt": prompt, "provider": provider, "model": model, "auto_execute": execute}
        body.update(_render_options(dict(choices)))
        if execute and self.http.events is not ignore:  # the render is queued and its progress streamed
            answer = self.http.request(
                "POST", "/api/agents/scripts/generate/", body=_compact({**body, "wait": False})
            )
            if _is_queued(answer):
                rendered = _announce(self.http, _deliver(self.http, _follow(self.http, answer), output))
                return generate_result(self._written(answer["script_id"], rendered), rendered)
            result = ScriptGenerateResult.model_validate(answer)
        else:
            result = ScriptGenerateResult.model_validate(
                self.http.request("POST", "/api/agents/scripts/generate/", body=_compact(body))
            )
        delivered = _deliver(self.http, result.execution, output) if result.execution else None
        return generate_result(result, delivered)

    def _written(self, script_id: str, rendered: ExecuteResult) -> ScriptGenerateResult:
        """The generate document of a script whose render was queued (and has finished: `rendered`)."""
        script = RemoteScripts(self.http).get_script(ref=script_id)
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

    def generate_script(
        self,
        *,
        prompt: str,
        provider: str | None = None,
        model: str | None = None,
        auto_execute: bool = False,
        voiceover: bool = False,
        **choices: Unpack[RenderChoices],
    ) -> ScriptGenerateResult:
        if voiceover:
            refused_through_server("voiceover")
        body = {"prompt": prompt, "provider": provider, "model": model, "auto_execute": auto_execute}
        body.update(_render_options(dict(choices)))
        return ScriptGenerateResult.model_validate(
            self.http.request("POST", "/api/agents/scripts/generate/", body=_compact(body))
        )

    def refine_script(
        self,
        *,
        ref: str,
        instruction: str,
        provider: str | None = None,
        model: str | None = None,
        auto_execute: bool = False,
        **choices: Unpack[GenerateChoices],
    ) -> ScriptGenerateResult:
        body = {
            "instruction": instruction,
            "provider": provider,
            "model": model,
            "auto_execute": auto_execute,
        }
        body.update(_render_options(dict(choices)))
        return ScriptGenerateResult.model_validate(
            self.http.request("POST", f"/api/agents/scripts/{segment(ref)}/refine/", body=_compact(body))
        )


class RemoteProviders:
    """`list` through the server; the rest is done on the server's machine."""

    def __init__(self, http: Transport) -> None:
        self.http = http

    def list_providers(self) -> list[ProviderPublic]:
        return [
            ProviderPublic.model_validate(row) for row in self.http.request("GET", "/api/agents/providers/")
        ]

    def get_provider(self, *, ref: str) -> ProviderPublic:
        refused_through_server("get_provider")

    def add_provider(
        self,
        *,
        name: str,
        provider_type: str,
        key: str | None = None,
        model_name: str | None = None,
        base_url: str | None = None,
        priority: int | None = None,
        api_key_env: str | None = None,
        deployment: str | None = None,
        api_version: str | None = None,
    ) -> ProviderPublic:
        refused_through_server("add_provider")

    def update_provider(
        self,
        *,
        ref: str,
        key: str | None = None,
        provider_type: str | None = None,
        model_name: str | None = None,
        base_url: str | None = None,
        priority: int | None = None,
        api_key_env: str | None = None,
        deployment: str | None = None,
        api_version: str | None = None,
        is_active: bool | None = None,
    ) -> ProviderPublic:
        refused_through_server("update_provider")

    def remove_provider(self, *, ref: str) -> str:
        refused_through_server("remove_provider")

    def set_key(self, *, ref: str, key: str) -> SecretStorage:
        refused_through_server("set_key")

    def test_provider(self, *, ref: str) -> ProviderTestResult:
        refused_through_server("test_provider")


class RemoteContainers:
    """List, start, stop and check the server's containers; adding, building and removing them is
    done on the server's machine."""

    def __init__(self, http: Transport) -> None:
        self.http = http

    def list_containers(self) -> list[ContainerPublic]:
        rows = self.http.request("GET", "/api/agents/containers/")
        return [ContainerPublic.model_validate(row) for row in rows]

    def add_container(
        self, *, name: str, image: str | None = None, memory: str = "2g", cpus: float = 2.0, pids: int = 256
    ) -> ContainerPublic:
        refused_through_server("add_container")

    def start_container(self, *, ref: str) -> ContainerStatus:
        return self._act(ref, "start")

    def stop_container(self, *, ref: str) -> ContainerStatus:
        return self._act(ref, "stop")

    def check_status(self, *, ref: str) -> ContainerStatus:
        return self._act(ref, "check_status")

    def remove_container(self, *, ref: str) -> ContainerStatus:
        refused_through_server("remove_container")

    def build_image(
        self,
        *,
        tag: str | None = None,
        base_image: str | None = None,
        ca_bundle: str | None = None,
        manim_version_: str | None = None,
        pip_index_url: str | None = None,
        pip_extra_index_url: str | None = None,
        pip_trusted_host: str | None = None,
        on_log: Callable[[str], None] | None = None,
    ) -> ImageBuildResult:
        refused_through_server("build_image")

    def _act(self, ref: str, action: str) -> ContainerStatus:
        return ContainerStatus.model_validate(
            self.http.request("POST", f"/api/agents/containers/{segment(ref)}/{action}/")
        )


class RemoteAuth:
    """Accounts on the server; the login is kept for the server's URL and refreshed as needed."""

    def __init__(self, http: Transport) -> None:
        self.http = http

    def register(
        self, *, email: str, password: str, first_name: str = "", last_name: str = ""
    ) -> MessageResult:
        body = {"email": email, "password": password, "first_name": first_name, "last_name": last_name}
        return self._message("/api/auth/register/", _compact_names(body))

    def verify_email(self, *, token: str) -> MessageResult:
        return self._message("/api/auth/verify-email/", {"token": token})

    def resend_verification(self, *, email: str) -> MessageResult:
        return self._message("/api/auth/resend-verification/", {"email": email})

    def login(self, *, email: str, password: str) -> TokenPair:
        """Sign in and keep the pair in the keyring for the next commands."""
        answer = self.http.request(
            "POST", "/api/auth/login/", body={"email": email, "password": password}, auth=False
        )
        pair = TokenPair.model_validate(answer)
        self.http.tokens.save(pair)
        return pair

    def get_profile(self) -> UserPublic:
        return UserPublic.model_validate(self.http.request("GET", "/api/auth/profile/"))

    def logout(self) -> MessageResult:
        """Revoke the login on the server (when it is still known) and forget it here."""
        pair = self.http.tokens.load()
        result = MessageResult(message="Logged out.")
        if pair is not None:
            try:
                result = self._message("/api/auth/logout/", {"refresh": pair.refresh})
            except Unauthorized:
                pass
        self.http.tokens.clear()
        return result

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]:
        """The server's accounts (an administrator's login)."""
        return [
            UserPublic.model_validate(row) for row in self.http.pages("/api/auth/users/", {}, limit, offset)
        ]

    def delete_user(self, *, email: str, reassign_to: str | None = None) -> AccountDeleted:
        """Delete an account on the server (an administrator's login)."""
        from manimagent.services.auth import AccountDeleted

        answer = self.http.request(
            "DELETE", f"/api/auth/users/{segment(email)}/", query={"reassign_to": reassign_to}
        )
        return AccountDeleted.model_validate(answer)

    def promote(self, *, email: str) -> UserPublic:
        refused_through_server("promote")

    def list_waitlist(self) -> list[WaitlistEntryPublic]:
        """The server's waiting list (an administrator's login)."""
        rows = self.http.request("GET", "/api/auth/waiting-list/")
        return [WaitlistEntryPublic.model_validate(row) for row in rows]

    def _message(self, path: str, body: dict[str, Any]) -> MessageResult:
        return MessageResult.model_validate(self.http.request("POST", path, body=body, auth=False))


# ---- a render through the server: queued, followed, downloaded ------------------------------------


def _is_queued(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("status") == "queued" and bool(answer.get("execution_id"))


def _follow(http: Transport, answer: Any) -> ExecuteResult:
    """The result of a render: at once when it is not queued, else after its events (drawn
    through the transport's `events`) end with `done`, which carries the result."""
    if not _is_queued(answer):
        return ExecuteResult.model_validate(answer)
    done = http.stream_events(answer["execution_id"])
    if done and isinstance(done.get("result"), dict):
        return ExecuteResult.model_validate(done["result"])
    row = RemoteExecutions(http).get_execution(ref=answer["execution_id"])  # ended without its result
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


def _announce(http: Transport, result: ExecuteResult) -> ExecuteResult:
    """The `done` event of a streamed render, with the path the video has on this machine."""
    http.events(Done(success=result.success, output_path=result.output_path, error=result.error))
    return result


def _deliver(http: Transport, result: ExecuteResult, output: str | None) -> ExecuteResult:
    """Download the finished video through its signed URL, to `output` or else into this home's
    media folder, so the path printed is one on this machine (the server's own path is not)."""
    import urllib.error

    if not result.success or not result.output_url:
        return result
    target = Path(output).expanduser() if output else _downloads_folder(http.server)
    if target.is_dir():
        target = target / Path(urlsplit(result.output_url).path).name
    try:
        http.download(result.output_url, target)
    except (OSError, urllib.error.URLError) as exc:
        if not output:  # not asked for: the server's copy and its output_url still stand
            return result
        raise BadInput(
            f"cannot download the video to {output}: {exc}", hint="It stays on the server; see output_url"
        ) from exc
    return result.model_copy(update={"output_path": str(target.resolve())})


def _downloads_folder(server: str) -> Path:
    """`<home>/media/from-server/<host_port>/`: where a server's videos land without --output."""
    from manimagent.paths import get_paths

    parts = urlsplit(server)
    folder = get_paths().media / "from-server" / (parts.netloc.replace(":", "_") or "server")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _render_options(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options.get(key) for key in RENDER_OPTIONS}


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _compact_names(body: dict[str, Any]) -> dict[str, Any]:
    """A register body without empty names (the server's defaults)."""
    return {key: value for key, value in body.items() if value or key not in ("first_name", "last_name")}
