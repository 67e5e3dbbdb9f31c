"""Anthropic Claude through the Messages API (`anthropic` SDK, an optional extra), streamed when asked."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from manimagent.errors import ConfigError, ProviderError
from manimagent.providers._failures import (
    empty_reply_error,
    failure_of,
    kind_for_status,
    missing_key_error,
)
from manimagent.providers.base import Completion, DeltaSink, LLMProvider, Message, ProviderConfig

MAX_TOKENS = 8192


def import_sdk() -> ModuleType:
    """The `anthropic` package, or a ConfigError saying how to install it."""
    try:
        import anthropic
    except ImportError:
        raise ConfigError(
            "the anthropic provider needs the anthropic package",
            hint="pip install 'manimagent[anthropic]'",
        ) from None
    return anthropic


class AnthropicProvider(LLMProvider):
    type_name = "anthropic"
    default_model = "claude-sonnet-5-5"
    vendor_key_envs = ("ANTHROPIC_API_KEY",)

    def __init__(self, config: ProviderConfig, api_key: str | None):
        super().__init__(config, api_key)
        self.sdk = import_sdk()
        if not api_key:
            raise missing_key_error(config, self.vendor_key_envs)
        self.client = self.sdk.Anthropic(
            api_key=api_key,
            base_url=config.base_url or None,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def complete(self, messages: list[Message], on_delta: DeltaSink | None = None) -> Completion:
        request = anthropic_request(self.model, messages)
        try:
            if on_delta is None:
                reply = self.client.messages.create(**request)
            else:
                reply = self._stream(request, on_delta)
        except self.sdk.AnthropicError as exc:
            raise classify_anthropic_error(exc, self) from None
        completion = _completion(reply, self.model)
        if not completion.text.strip():
            raise empty_reply_error(self.config, reply.stop_reason)
        return completion

    def _stream(self, request: dict[str, Any], on_delta: DeltaSink) -> Any:
        with self.client.messages.stream(**request) as stream:
            for text in stream.text_stream:
                if text:
                    on_delta(text)
            return stream.get_final_message()


def anthropic_request(model: str, messages: list[Message]) -> dict[str, Any]:
    """A Messages API request: system message(s) go in `system`, the rest are the turns."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    turns = [
        {"role": message.role, "content": message.content} for message in messages if message.role != "system"
    ]
    request: dict[str, Any] = {"model": model, "max_tokens": MAX_TOKENS, "messages": turns}
    if system:
        request["system"] = system
    return request


def _completion(reply: Any, model: str) -> Completion:
    text = "".join(block.text for block in reply.content if block.type == "text")
    completion = Completion(text=text, model=reply.model or model)
    usage = reply.usage
    if usage is not None:
        completion.prompt_tokens = sum(
            getattr(usage, name, 0) or 0
            for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        completion.completion_tokens = usage.output_tokens or 0
    return completion


def classify_anthropic_error(exc: Exception, provider: AnthropicProvider) -> ProviderError:
    """Map an `anthropic` SDK exception to a ProviderError kind, without the key in its message."""
    sdk = provider.sdk
    if isinstance(exc, sdk.APITimeoutError):
        return failure_of(provider, "timeout", "")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return failure_of(provider, "connection", f"{exc} ({cause})" if cause else str(exc))
    if isinstance(exc, sdk.APIStatusError):
        detail = getattr(exc, "api_message", None) or exc.message
        return failure_of(provider, kind_for_status(exc.status_code), detail, status=exc.status_code)
    return failure_of(provider, "bad_request", str(exc))
