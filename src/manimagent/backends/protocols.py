"""What a command can ask of manimagent, wherever it runs: one Protocol per resource, and `Backend`
holding one of each.

`LocalBackend` (backends/local.py) answers on this machine's store, `RemoteBackend`
(backends/remote.py) through a `manimagent serve`; both return the shared schemas, so a command's
`--json` document is the same either way. Operations that change the configuration of the machine
they run on (providers, containers, promoting an account) are refused by `RemoteBackend`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

if TYPE_CHECKING:
    from manimagent.keys import SecretStorage
    from manimagent.schemas import (
        CancelResult,
        ContainerPublic,
        ContainerStatus,
        ExecuteResult,
        ExecutionDetail,
        ExecutionPublic,
        GenerateResult,
        ImageBuildResult,
        MessageResult,
        ProviderPublic,
        ProviderTestResult,
        ScriptGenerateResult,
        ScriptPublic,
        ScriptSummary,
        TokenPair,
        UserPublic,
        WaitlistEntryPublic,
    )
    from manimagent.services.auth import AccountDeleted


class GenerateChoices(TypedDict, total=False):
    """How a generated script is rendered; a missing key (or None) is the configured default."""

    engine: str | None
    container: str | None
    quality: str | None
    format: str | None
    max_attempts: int | None
    still_seconds: float | None
    cache: bool | None  # False: render every scene again, whatever the render cache holds


class RenderChoices(GenerateChoices, total=False):
    """The render options of `render`, `scripts execute` and `generate`."""

    partial: bool  # join the scenes that rendered even when others failed


class Scripts(Protocol):
    def list_scripts(
        self, *, status: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ScriptSummary]: ...

    def get_script(self, *, ref: str) -> ScriptPublic: ...

    def import_script(
        self, *, path: str | None = None, code: str | None = None, prompt: str | None = None
    ) -> ScriptPublic: ...

    def export_script(self, *, ref: str, output: str | None = None) -> str: ...

    def remove_script(self, *, ref: str) -> str: ...


class Executions(Protocol):
    def list_executions(
        self, *, script_ref: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ExecutionPublic]: ...

    def get_execution(self, *, ref: str) -> ExecutionDetail: ...

    def retry_execution(
        self,
        *,
        ref: str,
        max_attempts: int | None = None,
        engine: str | None = None,
        container: str | None = None,
    ) -> ExecuteResult: ...

    def cancel_execution(self, *, ref: str) -> CancelResult: ...


class Render(Protocol):
    def render_file(
        self,
        *,
        path: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult: ...

    def execute_script(
        self,
        *,
        ref: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult: ...


class Generate(Protocol):
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
    ) -> GenerateResult: ...

    def generate_script(
        self,
        *,
        prompt: str,
        provider: str | None = None,
        model: str | None = None,
        auto_execute: bool = False,
        voiceover: bool = False,
        **choices: Unpack[RenderChoices],
    ) -> ScriptGenerateResult: ...

    def refine_script(
        self,
        *,
        ref: str,
        instruction: str,
        provider: str | None = None,
        model: str | None = None,
        auto_execute: bool = False,
        **choices: Unpack[GenerateChoices],
    ) -> ScriptGenerateResult: ...


class Providers(Protocol):
    def list_providers(self) -> list[ProviderPublic]: ...

    def get_provider(self, *, ref: str) -> ProviderPublic: ...

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
    ) -> ProviderPublic: ...

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
    ) -> ProviderPublic: ...

    def remove_provider(self, *, ref: str) -> str: ...

    def set_key(self, *, ref: str, key: str) -> SecretStorage: ...

    def test_provider(self, *, ref: str) -> ProviderTestResult: ...


class Containers(Protocol):
    def list_containers(self) -> list[ContainerPublic]: ...

    def add_container(
        self, *, name: str, image: str | None = None, memory: str = "2g", cpus: float = 2.0, pids: int = 256
    ) -> ContainerPublic: ...

    def start_container(self, *, ref: str) -> ContainerStatus: ...

    def stop_container(self, *, ref: str) -> ContainerStatus: ...

    def check_status(self, *, ref: str) -> ContainerStatus: ...

    def remove_container(self, *, ref: str) -> ContainerStatus: ...

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
    ) -> ImageBuildResult: ...


class Auth(Protocol):
    """Accounts, and the login this process keeps (in the keyring, or the 0600 secrets file)."""

    def register(
        self, *, email: str, password: str, first_name: str = "", last_name: str = ""
    ) -> MessageResult: ...

    def verify_email(self, *, token: str) -> MessageResult: ...

    def resend_verification(self, *, email: str) -> MessageResult: ...

    def login(self, *, email: str, password: str) -> TokenPair:
        """Sign in and keep the token pair for the next commands."""
        ...

    def get_profile(self) -> UserPublic:
        """The account of the kept login (refreshed when its access token expired)."""
        ...

    def logout(self) -> MessageResult:
        """End the kept login and forget it."""
        ...

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> list[UserPublic]: ...

    def delete_user(self, *, email: str, reassign_to: str | None = None) -> AccountDeleted: ...

    def promote(self, *, email: str) -> UserPublic: ...

    def list_waitlist(self) -> list[WaitlistEntryPublic]: ...


class Backend(Protocol):
    """Every resource, local or through one server."""

    @property
    def server(self) -> str | None:
        """The server's URL; None for this machine's store."""
        ...

    @property
    def scripts(self) -> Scripts: ...

    @property
    def executions(self) -> Executions: ...

    @property
    def render(self) -> Render: ...

    @property
    def generate(self) -> Generate: ...

    @property
    def providers(self) -> Providers: ...

    @property
    def containers(self) -> Containers: ...

    @property
    def auth(self) -> Auth: ...
