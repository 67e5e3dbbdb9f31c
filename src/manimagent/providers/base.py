"""The provider interface: a small class per vendor with a name, its key lookup and `complete`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    notice: str | None = None  # one line the user should see about this answer (a fallback taken)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ProviderConfig:
    """Everything a provider needs except its key. Built from a `Provider` row or from defaults."""

    name: str
    provider_type: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    timeout: float = 120.0
    max_retries: int = 2


DeltaSink = Callable[[str], None]


class LLMProvider(ABC):
    """One vendor. The vendor SDK is imported inside the subclass's module only."""

    type_name: ClassVar[str]
    default_model: ClassVar[str]
    vendor_key_envs: ClassVar[tuple[str, ...]] = ()
    needs_key: ClassVar[bool] = True

    @classmethod
    def key_required(cls, config: ProviderConfig) -> bool:
        """Whether this provider, so configured, cannot work without a key (OpenAI-compatible
        servers at a base URL, such as Ollama, need none)."""
        return cls.needs_key

    def __init__(self, config: ProviderConfig, api_key: str | None):
        self.config = config
        self.api_key = api_key

    @property
    def model(self) -> str:
        return self.config.model or self.default_model

    @abstractmethod
    def complete(self, messages: list[Message], on_delta: DeltaSink | None = None) -> Completion:
        """Send `messages`; stream text pieces to `on_delta` when given and the vendor can.

        Raises `ProviderError` with a kind: auth, rate_limit, server, timeout, connection,
        bad_request or reply.
        """
