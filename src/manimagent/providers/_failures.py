"""How a failed LLM call becomes a `ProviderError`: HTTP status to kind, fix-it hints, key scrubbing.

Each vendor module maps its SDK's exceptions with these, so every provider reports the same kinds.
"""

from __future__ import annotations

import re

from manimagent.errors import ConfigError, ProviderError
from manimagent.providers.base import LLMProvider, ProviderConfig

MAX_DETAIL_CHARS = 300
_SECRET_PATTERNS = (
    re.compile(r"(Bearer\s+)[^\s\"',}]+", re.IGNORECASE),
    re.compile(
        r"((?:api[-_]?key|key|x-goog-api-key|x-api-key)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]{8,}", re.IGNORECASE
    ),
)


def kind_for_status(status: int) -> str:
    """The ProviderError kind of an HTTP error status."""
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server"
    return "bad_request"


def scrub(text: str, api_key: str | None) -> str:
    """`text` without the key, bearer tokens or `key=...` values, shortened to one readable line."""
    if api_key:
        text = text.replace(api_key, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def key_hint(config: ProviderConfig, vendor_envs: tuple[str, ...]) -> str:
    """How to give this provider a key."""
    env = config.api_key_env or (vendor_envs[0] if vendor_envs else None)
    where = f" or set {env}" if env else ""
    return f"Store a key with `manimagent providers set-key {config.name}`{where}"


def _status_summary(kind: str, status: int | None) -> str:
    what = {
        "auth": "rejected the credentials",
        "rate_limit": "is rate limiting requests",
        "server": "had a server error",
        "timeout": "did not answer in time",
        "connection": "could not be reached",
        "bad_request": "rejected the request",
    }[kind]
    return f"{what} (HTTP {status})" if status else what


def _hint_for(kind: str, config: ProviderConfig, vendor_envs: tuple[str, ...]) -> str | None:
    if kind == "auth":
        return key_hint(config, vendor_envs)
    if kind == "rate_limit":
        return "Wait a moment and try again, or configure another provider to fall back on"
    if kind == "server":
        return "The provider is having trouble; try again later"
    if kind == "timeout":
        return "Try again, or raise `llm.timeout` in config.toml"
    if kind == "connection":
        return "Check the network and the provider's base URL"
    if kind == "bad_request":
        return "Check the model name and the provider's settings (`manimagent providers list`)"
    return None


def provider_error(
    kind: str,
    detail: str,
    *,
    config: ProviderConfig,
    api_key: str | None,
    vendor_envs: tuple[str, ...] = (),
    status: int | None = None,
) -> ProviderError:
    """A ProviderError of `kind` with a scrubbed one-line message and a fix-it hint."""
    message = f"provider {config.name} ({config.provider_type}) {_status_summary(kind, status)}"
    detail = scrub(detail, api_key)
    if detail:
        message = f"{message}: {detail}"
    return ProviderError(message, kind=kind, provider=config.name, hint=_hint_for(kind, config, vendor_envs))


def failure_of(provider: LLMProvider, kind: str, detail: str, status: int | None = None) -> ProviderError:
    """`provider_error` for a provider instance: its config, key and vendor env vars."""
    return provider_error(
        kind,
        detail,
        config=provider.config,
        api_key=provider.api_key,
        vendor_envs=provider.vendor_key_envs,
        status=status,
    )


def empty_reply_error(config: ProviderConfig, reason: str | None = None) -> ProviderError:
    """The provider answered but with no text."""
    why = f" (finish reason: {reason})" if reason else ""
    return ProviderError(
        f"provider {config.name} ({config.provider_type}) returned an empty reply{why}",
        kind="reply",
        provider=config.name,
        hint="Try again, or rephrase the prompt",
    )


def missing_key_error(config: ProviderConfig, vendor_envs: tuple[str, ...]) -> ConfigError:
    """No key was found for a provider that needs one."""
    return ConfigError(f"no API key for provider {config.name}", hint=key_hint(config, vendor_envs))
