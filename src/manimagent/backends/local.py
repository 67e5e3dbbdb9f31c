"""`LocalBackend`: the service functions of this machine's store, bound to one Context.

Each method imports its service module when it is first called, so that a command loads only the
services it uses (`manimagent render FILE` starts before SQLModel or the LLM SDKs load).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Unpack

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
    from manimagent.context import Context
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
        ProviderPublic,
        ProviderTestResult,
        ScriptGenerateResult,
        ScriptPublic,
        ScriptSummary,
    )


class LocalBackend:
    """Every resource on this machine's store. `auth` keeps the login of this process (the CLI's:
    `cli/local_auth.LocalAuth`), since a Context alone has no login to keep."""

    server: str | None = None

    def __init__(self, ctx: Context, *, auth: Auth) -> None:
        self.ctx = ctx
        self.scripts: Scripts = LocalScripts(ctx)
        self.executions: Executions = LocalExecutions(ctx)
        self.render: Render = LocalRender(ctx)
        self.generate: Generate = LocalGenerate(ctx)
        self.providers: Providers = LocalProviders(ctx)
        self.containers: Containers = LocalContainers(ctx)
        self.auth: Auth = auth


class LocalScripts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_scripts(
        self, *, status: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ScriptSummary]:
        from manimagent.services import scripts

        return scripts.list_scripts(self.ctx, status=status, limit=limit, offset=offset)

    def get_script(self, *, ref: str) -> ScriptPublic:
        from manimagent.services import scripts

        return scripts.get_script(self.ctx, ref=ref)

    def import_script(
        self, *, path: str | None = None, code: str | None = None, prompt: str | None = None
    ) -> ScriptPublic:
        from manimagent.services import scripts

        return scripts.import_script(self.ctx, path=path, code=code, prompt=prompt)

    def export_script(self, *, ref: str, output: str | None = None) -> str:
        from manimagent.services import scripts

        return scripts.export_script(self.ctx, ref=ref, output=output)

    def remove_script(self, *, ref: str) -> str:
        from manimagent.services import scripts

        return scripts.remove_script(self.ctx, ref=ref)


class LocalExecutions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_executions(
        self, *, script_ref: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ExecutionPublic]:
        from manimagent.services import executions

        return executions.list_executions(self.ctx, script_ref=script_ref, limit=limit, offset=offset)

    def get_execution(self, *, ref: str) -> ExecutionDetail:
        from manimagent.services import executions

        return executions.get_execution(self.ctx, ref=ref)

    def retry_execution(
        self,
        *,
        ref: str,
        max_attempts: int | None = None,
        engine: str | None = None,
        container: str | None = None,
    ) -> ExecuteResult:
        from manimagent.services import executions

        return executions.retry_execution(
            self.ctx, ref=ref, max_attempts=max_attempts, engine=engine, container=container
        )

    def cancel_execution(self, *, ref: str) -> CancelResult:
        from manimagent.services import executions

        return executions.cancel_execution(self.ctx, ref=ref)


class LocalRender:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def render_file(
        self,
        *,
        path: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult:
        from manimagent.services import render

        return render.render_file(self.ctx, path=path, output=output, scenes=scenes, **choices)

    def execute_script(
        self,
        *,
        ref: str,
        output: str | None = None,
        scenes: list[str] | None = None,
        **choices: Unpack[RenderChoices],
    ) -> ExecuteResult:
        from manimagent.services import render

        return render.execute_script(self.ctx, ref=ref, output=output, scenes=scenes, **choices)


class LocalGenerate:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        from manimagent.services import generate

        return generate.generate(
            self.ctx,
            prompt=prompt,
            provider=provider,
            model=model,
            execute=execute,
            output=output,
            voiceover=voiceover,
            **choices,
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
        from manimagent.services import generate

        return generate.generate_script(
            self.ctx,
            prompt=prompt,
            provider=provider,
            model=model,
            auto_execute=auto_execute,
            voiceover=voiceover,
            **choices,
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
        from manimagent.services import generate

        return generate.refine_script(
            self.ctx,
            ref=ref,
            instruction=instruction,
            provider=provider,
            model=model,
            auto_execute=auto_execute,
            **choices,
        )


class LocalProviders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_providers(self) -> list[ProviderPublic]:
        from manimagent.services import providers

        return providers.list_providers(self.ctx)

    def get_provider(self, *, ref: str) -> ProviderPublic:
        from manimagent.services import providers

        return providers.get_provider(self.ctx, ref=ref)

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
        from manimagent.services import providers

        return providers.add_provider(
            self.ctx,
            name=name,
            provider_type=provider_type,
            key=key,
            model_name=model_name,
            base_url=base_url,
            priority=priority,
            api_key_env=api_key_env,
            deployment=deployment,
            api_version=api_version,
        )

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
        from manimagent.services import providers

        return providers.update_provider(
            self.ctx,
            ref=ref,
            key=key,
            provider_type=provider_type,
            model_name=model_name,
            base_url=base_url,
            priority=priority,
            api_key_env=api_key_env,
            deployment=deployment,
            api_version=api_version,
            is_active=is_active,
        )

    def remove_provider(self, *, ref: str) -> str:
        from manimagent.services import providers

        return providers.remove_provider(self.ctx, ref=ref)

    def set_key(self, *, ref: str, key: str) -> SecretStorage:
        from manimagent.services import providers

        return providers.set_key(self.ctx, ref=ref, key=key)

    def test_provider(self, *, ref: str) -> ProviderTestResult:
        from manimagent.services import providers

        return providers.test_provider(self.ctx, ref=ref)


class LocalContainers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_containers(self) -> list[ContainerPublic]:
        from manimagent.services import containers

        return containers.list_containers(self.ctx)

    def add_container(
        self, *, name: str, image: str | None = None, memory: str = "2g", cpus: float = 2.0, pids: int = 256
    ) -> ContainerPublic:
        from manimagent.services import containers

        return containers.add_container(self.ctx, name=name, image=image, memory=memory, cpus=cpus, pids=pids)

    def start_container(self, *, ref: str) -> ContainerStatus:
        from manimagent.services import containers

        return containers.start_container(self.ctx, ref=ref)

    def stop_container(self, *, ref: str) -> ContainerStatus:
        from manimagent.services import containers

        return containers.stop_container(self.ctx, ref=ref)

    def check_status(self, *, ref: str) -> ContainerStatus:
        from manimagent.services import containers

        return containers.check_status(self.ctx, ref=ref)

    def remove_container(self, *, ref: str) -> ContainerStatus:
        from manimagent.services import containers

        return containers.remove_container(self.ctx, ref=ref)

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
        from manimagent.services import containers

        return containers.build_image(
            self.ctx,
            tag=tag,
            base_image=base_image,
            ca_bundle=ca_bundle,
            manim_version_=manim_version_,
            pip_index_url=pip_index_url,
            pip_extra_index_url=pip_extra_index_url,
            pip_trusted_host=pip_trusted_host,
            on_log=on_log,
        )
