"""Choosing the LLM provider and calling it with fallback (CONTRACT.md's selection rules).

Explicit `--provider` -> only that one. Otherwise the active configured providers by priority,
falling through to the next on auth, rate limit, server, timeout or connection errors; with none
configured, the one a vendor env var implies; otherwise the built-in offline provider.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from manimagent.context import Context
from manimagent.errors import AllProvidersFailed, BadInput, ConfigError, ProviderError
from manimagent.events import LlmDelta, Notice, ProviderFailed, ProviderSelected
from manimagent.keys import lookup_key
from manimagent.providers import PROVIDER_TYPES, load_provider_class
from manimagent.providers.base import Completion, LLMProvider, Message, ProviderConfig
from manimagent.store.models import Provider

# vendor env var -> provider type it implies when nothing is configured
ENV_IMPLIED: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai"),
    ("ANTHROPIC_API_KEY", "anthropic"),
    ("GEMINI_API_KEY", "gemini"),
    ("GOOGLE_API_KEY", "gemini"),
)
OFFLINE_NOTICE = (
    "No LLM provider is configured and no vendor API key is set: using the built-in offline"
    " provider (recipes, no AI). Add one with `manimagent providers add`."
)


@dataclass
class Candidate:
    config: ProviderConfig
    reason: str  # explicit | configured | env | offline


@dataclass
class Answer:
    completion: Completion
    config: ProviderConfig
    attempts: list[dict[str, Any]]


def config_from_row(ctx: Context, row: Provider) -> ProviderConfig:
    return ProviderConfig(
        name=row.name,
        provider_type=row.provider_type,
        model=row.model_name,
        base_url=row.base_url,
        api_key_env=row.api_key_env,
        deployment=row.deployment,
        api_version=row.api_version,
        timeout=ctx.settings.llm_timeout,
        max_retries=ctx.settings.llm_retries,
    )


def _default_config(ctx: Context, provider_type: str, model: str | None = None) -> ProviderConfig:
    return ProviderConfig(
        name=provider_type,
        provider_type=provider_type,
        model=model,
        timeout=ctx.settings.llm_timeout,
        max_retries=ctx.settings.llm_retries,
    )


def candidates(ctx: Context, provider: str | None = None, model: str | None = None) -> list[Candidate]:
    """The providers to try, in order."""
    if provider is not None:
        return [Candidate(_with_model(_explicit(ctx, provider), model), "explicit")]
    with ctx.session() as session:
        rows = session.exec(
            select(Provider)
            .where(Provider.is_active == True)  # noqa: E712 - SQL, not a truth test
            .order_by(col(Provider.priority), col(Provider.id))
        ).all()
    if rows:
        return [Candidate(_with_model(config_from_row(ctx, row), model), "configured") for row in rows]
    for var, provider_type in ENV_IMPLIED:
        if os.environ.get(var):
            return [Candidate(_default_config(ctx, provider_type, model), "env")]
    return [Candidate(_default_config(ctx, "offline", model), "offline")]


def _explicit(ctx: Context, name: str) -> ProviderConfig:
    name = name.strip()
    if not name:
        raise BadInput("--provider is empty", hint="Give a configured provider's name or a type")
    with ctx.session() as session:
        row = session.exec(select(Provider).where(Provider.name == name)).first()
        if row is None and name.isdigit():
            row = session.get(Provider, int(name))
    if row is not None:
        return config_from_row(ctx, row)
    if name in PROVIDER_TYPES:
        return _default_config(ctx, name)
    raise BadInput(
        f"no provider named {name!r}",
        hint="List them with `manimagent providers list`, or use a type: " + ", ".join(PROVIDER_TYPES),
    )


def _with_model(config: ProviderConfig, model: str | None) -> ProviderConfig:
    if not model:
        return config
    from dataclasses import replace

    return replace(config, model=model)


def instantiate(config: ProviderConfig) -> LLMProvider:
    """The provider object with its key; ConfigError when a required key is missing."""
    cls = load_provider_class(config.provider_type)
    required = cls.key_required(config)
    found = lookup_key(config.name, config.api_key_env, cls.vendor_key_envs)
    if required and not found.key:
        envs = " or ".join(filter(None, (config.api_key_env, *cls.vendor_key_envs)))
        raise ConfigError(
            f"no API key for provider {config.name}",
            hint=f"Run `manimagent providers set-key {config.name}`"
            + (f" or set {envs}" if envs else "")
            + "; without a key, `--provider offline` works",
        )
    return cls(config, found.key)


def key_source(config: ProviderConfig) -> str:
    try:
        cls = load_provider_class(config.provider_type)
    except BadInput:
        return "none"
    source = lookup_key(config.name, config.api_key_env, cls.vendor_key_envs).source
    return "not needed" if source == "none" and not cls.key_required(config) else source


def complete(ctx: Context, chain: list[Candidate], messages: list[Message], *, stream: bool = True) -> Answer:
    """Ask the first provider that answers; fall through on provider errors when not explicit."""
    attempts: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, candidate in enumerate(chain):
        more = index + 1 < len(chain)
        try:
            llm = instantiate(candidate.config)
        except ConfigError as exc:
            if candidate.reason == "explicit" or not more and not errors:
                raise
            _record_failure(
                ctx,
                attempts,
                errors,
                candidate,
                ProviderError(exc.message, kind="auth", provider=candidate.config.name),
                more,
            )
            continue
        ctx.events(ProviderSelected(provider=candidate.config.name, model=llm.model, reason=candidate.reason))
        if candidate.reason == "offline":
            ctx.events(Notice(message=OFFLINE_NOTICE))
        try:
            completion = llm.complete(messages, on_delta=_delta_sink(ctx) if stream else None)
        except ProviderError as exc:
            if candidate.reason == "explicit" or not exc.falls_through:
                attempts.append(_attempt(candidate, exc))
                raise
            _record_failure(ctx, attempts, errors, candidate, exc, more)
            continue
        attempts.append(
            {"provider": candidate.config.name, "model": completion.model or llm.model, "ok": True}
        )
        if completion.notice:
            ctx.events(Notice(message=completion.notice))
        return Answer(completion, candidate.config, attempts)
    raise AllProvidersFailed(
        "every provider failed: " + "; ".join(errors),
        hint="Check `manimagent providers test NAME`, or try it without a key: `--provider offline`",
        details=attempts,
    )


def _record_failure(
    ctx: Context,
    attempts: list[dict[str, Any]],
    errors: list[str],
    candidate: Candidate,
    exc: ProviderError,
    more: bool,
) -> None:
    attempts.append(_attempt(candidate, exc))
    errors.append(f"{candidate.config.name}: {exc.message}")
    ctx.events(
        ProviderFailed(
            provider=candidate.config.name, error=exc.message, error_kind=exc.kind, falling_back=more
        )
    )


def _attempt(candidate: Candidate, exc: ProviderError) -> dict[str, Any]:
    return {"provider": candidate.config.name, "ok": False, "kind": exc.kind, "error": exc.message}


def _delta_sink(ctx: Context) -> Callable[[str], None]:
    def emit(text: str) -> None:
        ctx.events(LlmDelta(text=text))

    return emit
