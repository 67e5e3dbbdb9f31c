"""OpenAI over Chat Completions, and with a base URL any OpenAI-compatible server.

Ollama, vLLM, LM Studio and OpenRouter speak the same wire format; a local one may need no key.
"""

from __future__ import annotations

import openai

from manimagent.providers._chat_completions import ChatCompletionsProvider
from manimagent.providers._failures import missing_key_error
from manimagent.providers.base import ProviderConfig

NO_KEY_PLACEHOLDER = "not-needed"


class OpenAIProvider(ChatCompletionsProvider):
    type_name = "openai"
    default_model = "gpt-4o-mini"
    vendor_key_envs = ("OPENAI_API_KEY",)

    @classmethod
    def key_required(cls, config: ProviderConfig) -> bool:
        """A key is needed for api.openai.com; a server at a base URL (Ollama, ...) may need none."""
        return not config.base_url

    def __init__(self, config: ProviderConfig, api_key: str | None):
        super().__init__(config, api_key)
        self.client = openai.OpenAI(
            api_key=self._effective_key(),
            base_url=config.base_url or None,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def _effective_key(self) -> str:
        if self.api_key:
            return self.api_key
        if not self.key_required(self.config):
            return NO_KEY_PLACEHOLDER
        raise missing_key_error(self.config, self.vendor_key_envs)
