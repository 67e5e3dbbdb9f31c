"""Google Gemini through the google-genai SDK: generate_content, streamed when asked."""

from __future__ import annotations

import importlib
import json
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from manimagent.errors import ProviderError
from manimagent.providers._failures import (
    empty_reply_error,
    failure_of,
    kind_for_status,
    missing_key_error,
)
from manimagent.providers.base import Completion, DeltaSink, LLMProvider, Message, ProviderConfig


def _transport_errors(class_name: str) -> tuple[type[BaseException], ...]:
    """`class_name` from httpx and httpx2, whichever are installed (google-genai may use either)."""
    found = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(getattr(module, class_name))
    return tuple(found)


TIMEOUT_ERRORS = _transport_errors("TimeoutException")
TRANSPORT_ERRORS = _transport_errors("TransportError")
CAUGHT_ERRORS: tuple[type[BaseException], ...] = (genai_errors.APIError, *TRANSPORT_ERRORS)


class GeminiProvider(LLMProvider):
    type_name = "gemini"
    default_model = "gemini-2.5-flash"
    vendor_key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(self, config: ProviderConfig, api_key: str | None):
        super().__init__(config, api_key)
        if not api_key:
            raise missing_key_error(config, self.vendor_key_envs)
        self.client = genai.Client(vertexai=False, api_key=api_key, http_options=http_options(config))

    def complete(self, messages: list[Message], on_delta: DeltaSink | None = None) -> Completion:
        contents, request_config = gemini_request(messages)
        request = {"model": self.model, "contents": contents, "config": request_config}
        try:
            if on_delta is None:
                completion, reason = self._complete_plain(request)
            else:
                completion, reason = self._complete_streaming(request, on_delta)
        except CAUGHT_ERRORS as exc:
            raise classify_gemini_error(exc, self) from None
        if not completion.text.strip():
            raise empty_reply_error(self.config, reason)
        return completion

    def _complete_plain(self, request: dict[str, Any]) -> tuple[Completion, str | None]:
        response = self.client.models.generate_content(**request)
        completion = Completion(text=response.text or "", model=response.model_version or self.model)
        _add_usage(completion, response.usage_metadata)
        return completion, _finish_reason(response)

    def _complete_streaming(
        self, request: dict[str, Any], on_delta: DeltaSink
    ) -> tuple[Completion, str | None]:
        completion = Completion(text="", model=self.model)
        parts: list[str] = []
        reason = None
        for chunk in self.client.models.generate_content_stream(**request):
            completion.model = chunk.model_version or completion.model
            _add_usage(completion, chunk.usage_metadata)
            reason = _finish_reason(chunk) or reason
            if chunk.text:
                parts.append(chunk.text)
                on_delta(chunk.text)
        completion.text = "".join(parts)
        return completion, reason


def http_options(config: ProviderConfig) -> types.HttpOptions:
    """Base URL, timeout (the SDK wants milliseconds) and retries of the client."""
    return types.HttpOptions(
        base_url=config.base_url or None,
        timeout=int(config.timeout * 1000),
        retry_options=types.HttpRetryOptions(attempts=config.max_retries + 1),
    )


def gemini_request(messages: list[Message]) -> tuple[list[types.Content], types.GenerateContentConfig]:
    """The conversation as Gemini contents, with the system message(s) as system instruction."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    contents = [
        types.Content(
            role="model" if message.role == "assistant" else "user", parts=[types.Part(text=message.content)]
        )
        for message in messages
        if message.role != "system"
    ]
    return contents, types.GenerateContentConfig(system_instruction=system or None)


def _add_usage(completion: Completion, usage: types.GenerateContentResponseUsageMetadata | None) -> None:
    if usage is None:
        return
    completion.prompt_tokens = usage.prompt_token_count or completion.prompt_tokens
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    completion.completion_tokens = output or completion.completion_tokens


def _finish_reason(response: types.GenerateContentResponse) -> str | None:
    if response.candidates and response.candidates[0].finish_reason:
        reason = response.candidates[0].finish_reason
        return str(getattr(reason, "value", reason))
    feedback = response.prompt_feedback
    if feedback and feedback.block_reason:
        return f"prompt blocked: {getattr(feedback.block_reason, 'value', feedback.block_reason)}"
    return None


def _is_bad_key(exc: genai_errors.APIError) -> bool:
    """Gemini answers a wrong API key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    return exc.code == 400 and "API_KEY_INVALID" in json.dumps(exc.details, default=str)


def classify_gemini_error(exc: BaseException, provider: LLMProvider) -> ProviderError:
    """Map a google-genai (or its HTTP client's) exception to a ProviderError kind."""
    if isinstance(exc, genai_errors.APIError):
        status = exc.code if isinstance(exc.code, int) else None
        kind = "auth" if _is_bad_key(exc) else kind_for_status(status) if status else "server"
        return failure_of(provider, kind, exc.message or exc.status or str(exc), status=status)
    if isinstance(exc, TIMEOUT_ERRORS):
        return failure_of(provider, "timeout", "")
    return failure_of(provider, "connection", f"{type(exc).__name__}: {exc}")
