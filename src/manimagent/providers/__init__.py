"""LLM providers: a lazy registry from provider type to class.

Nothing here imports a vendor SDK; a provider's module (and with it its SDK) is imported only
when `load_provider_class` asks for it, so `manimagent --help` stays fast.

Key convention: `LLMProvider.key_required(config)` says whether a key is needed (OpenAI returns
False when a base URL is set: Ollama and friends need none).
"""

from __future__ import annotations

import importlib

from manimagent.errors import BadInput
from manimagent.providers.base import LLMProvider

PROVIDER_TYPES: dict[str, str] = {
    "openai": "manimagent.providers.openai:OpenAIProvider",
    "azure_openai": "manimagent.providers.azure_openai:AzureOpenAIProvider",
    "gemini": "manimagent.providers.gemini:GeminiProvider",
    "anthropic": "manimagent.providers.anthropic:AnthropicProvider",
    "offline": "manimagent.providers.offline:OfflineProvider",
}


def load_provider_class(provider_type: str) -> type[LLMProvider]:
    """The provider class of `provider_type`, importing its module (and vendor SDK) now."""
    target = PROVIDER_TYPES.get(provider_type)
    if target is None:
        valid = ", ".join(PROVIDER_TYPES)
        raise BadInput(f"unknown provider type {provider_type!r}", hint=f"Use one of: {valid}")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
