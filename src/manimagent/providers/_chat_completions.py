"""The Chat Completions call shared by the OpenAI and Azure OpenAI providers: request, stream, errors.

Works with any `openai.OpenAI`-like client (OpenAI, Azure, OpenAI-compatible servers).
"""

from __future__ import annotations

from typing import Any

import openai

from manimagent.errors import ProviderError
from manimagent.providers._failures import empty_reply_error, failure_of, kind_for_status
from manimagent.providers.base import Completion, DeltaSink, LLMProvider, Message

STREAM_OPTIONS = {"include_usage": True}


def chat_messages(messages: list[Message]) -> list[dict[str, str]]:
    """Messages in the Chat Completions wire form."""
    return [{"role": message.role, "content": message.content} for message in messages]


class ChatCompletionsProvider(LLMProvider):
    """A provider whose vendor speaks Chat Completions through an `openai` client.

    Subclasses set `self.client` (an `openai.OpenAI` or `openai.AzureOpenAI`) in `__init__`.
    """

    client: Any

    def _wire_model(self) -> str:
        """The `model` field of the request (Azure sends its deployment name)."""
        return self.model

    def complete(self, messages: list[Message], on_delta: DeltaSink | None = None) -> Completion:
        client = self.client
        request = {"model": self._wire_model(), "messages": chat_messages(messages)}
        try:
            if on_delta is None:
                completion, finish_reason = _complete_plain(client, request)
            else:
                completion, finish_reason = _complete_streaming(client, request, on_delta)
        except openai.OpenAIError as exc:
            raise classify_openai_error(exc, self) from None
        if not completion.text.strip():
            raise empty_reply_error(self.config, finish_reason)
        return completion


def _complete_plain(client: Any, request: dict[str, Any]) -> tuple[Completion, str | None]:
    response = client.chat.completions.create(**request)
    choice = response.choices[0] if response.choices else None
    text = (choice.message.content or "") if choice else ""
    completion = Completion(text=text, model=response.model or request["model"])
    _add_usage(completion, response.usage)
    return completion, choice.finish_reason if choice else None


def _complete_streaming(
    client: Any, request: dict[str, Any], on_delta: DeltaSink
) -> tuple[Completion, str | None]:
    try:
        stream = client.chat.completions.create(**request, stream=True, stream_options=STREAM_OPTIONS)
    except openai.BadRequestError as exc:
        if "stream_options" not in str(exc):
            raise
        stream = client.chat.completions.create(**request, stream=True)
    return _collect_stream(stream, request["model"], on_delta)


def _collect_stream(stream: Any, model: str, on_delta: DeltaSink) -> tuple[Completion, str | None]:
    completion = Completion(text="", model=model)
    parts: list[str] = []
    finish_reason = None
    for chunk in stream:
        completion.model = chunk.model or completion.model
        _add_usage(completion, chunk.usage)
        for choice in chunk.choices or ():
            finish_reason = choice.finish_reason or finish_reason
            piece = choice.delta.content if choice.delta else None
            if piece:
                parts.append(piece)
                on_delta(piece)
    completion.text = "".join(parts)
    return completion, finish_reason


def _add_usage(completion: Completion, usage: Any) -> None:
    if usage is not None:
        completion.prompt_tokens = usage.prompt_tokens or 0
        completion.completion_tokens = usage.completion_tokens or 0


def classify_openai_error(exc: openai.OpenAIError, provider: LLMProvider) -> ProviderError:
    """Map an `openai` SDK exception to a ProviderError kind, without the key in its message."""
    if isinstance(exc, openai.APITimeoutError):
        return failure_of(provider, "timeout", "")
    if isinstance(exc, openai.APIConnectionError):
        return failure_of(provider, "connection", _cause_text(exc))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return failure_of(provider, kind_for_status(status), _api_message(exc), status=status)
    return failure_of(provider, "bad_request", str(exc))


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    return exc.message


def _cause_text(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{exc} ({cause})" if cause else str(exc)
