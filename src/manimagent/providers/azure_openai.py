"""Azure OpenAI: Chat Completions against a deployment on an Azure endpoint."""

from __future__ import annotations

import os

import openai

from manimagent.errors import ConfigError
from manimagent.providers._chat_completions import ChatCompletionsProvider
from manimagent.providers._failures import missing_key_error
from manimagent.providers.base import ProviderConfig

ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(ChatCompletionsProvider):
    type_name = "azure_openai"
    default_model = "gpt-4o-mini"
    vendor_key_envs = ("AZURE_OPENAI_API_KEY",)

    def __init__(self, config: ProviderConfig, api_key: str | None):
        super().__init__(config, api_key)
        if not api_key:
            raise missing_key_error(config, self.vendor_key_envs)
        self.client = openai.AzureOpenAI(
            api_key=api_key,
            azure_endpoint=self.endpoint(config),
            azure_deployment=config.deployment or None,
            api_version=config.api_version or DEFAULT_API_VERSION,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    @staticmethod
    def endpoint(config: ProviderConfig) -> str:
        """The Azure resource endpoint: the provider's base URL, else AZURE_OPENAI_ENDPOINT."""
        endpoint = config.base_url or os.environ.get(ENDPOINT_ENV)
        if not endpoint:
            raise ConfigError(
                f"provider {config.name} (azure_openai) has no endpoint",
                hint=f"Set it with `manimagent providers update {config.name} --base-url "
                f"https://RESOURCE.openai.azure.com` or set {ENDPOINT_ENV}",
            )
        return endpoint

    def _wire_model(self) -> str:
        return self.config.deployment or self.model
