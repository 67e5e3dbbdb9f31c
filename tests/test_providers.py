"""The LLM providers through the real vendor SDKs against the local fake server (tests/fakellm.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from fakellm import FakeLLMServer, fake_llm, fake_llm_server  # noqa: F401 - fixtures
from manimagent.errors import BadInput, ConfigError, ProviderError
from manimagent.providers import PROVIDER_TYPES, load_provider_class
from manimagent.providers._failures import scrub
from manimagent.providers.base import LLMProvider, Message, ProviderConfig

KEY = "sk-test-4f9c2a7e1b8d3c6a5f0e"
SYSTEM = "You write Manim Community Edition scripts."
USER = "Animate a circle turning into a square"
MESSAGES = [Message("system", SYSTEM), Message("user", USER)]
REPLY = "from manim import *\n\nclass CircleToSquare(Scene):\n    def construct(self):\n        pass\n"
VENDOR_TYPES = ["openai", "azure_openai", "gemini", "anthropic"]
WIRE_OF = {"openai": "openai", "azure_openai": "azure", "gemini": "gemini", "anthropic": "anthropic"}
SDK_ENV = (
    "OPENAI_BASE_URL",
    "OPENAI_API_VERSION",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_AD_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No environment variable of the machine may redirect or reconfigure an SDK."""
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)


def make_provider(
    provider_type: str, server: FakeLLMServer, key: str | None = KEY, **config: object
) -> LLMProvider:
    settings: dict[str, object] = {
        "base_url": server.base_url_for(WIRE_OF[provider_type]),
        "max_retries": 0,
        "timeout": 10.0,
    }
    if provider_type == "azure_openai":
        settings["deployment"] = "manim-gpt"
    settings.update(config)
    cls = load_provider_class(provider_type)
    return cls(ProviderConfig(name=f"my-{provider_type}", provider_type=provider_type, **settings), key)


def sent_texts(request_body: dict) -> str:
    """Everything a request says, as one string (where the system prompt goes differs by vendor)."""
    return json.dumps(request_body)


def expected_model(provider: LLMProvider) -> str:
    return provider.config.deployment or provider.model


# ----------------------------------------------------------------------------- success


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_plain_completion(fake_llm: FakeLLMServer, provider_type: str) -> None:
    provider = make_provider(provider_type, fake_llm)
    fake_llm.enqueue(text=REPLY, prompt_tokens=42, completion_tokens=17)

    completion = provider.complete(MESSAGES)

    assert completion.text == REPLY
    assert (completion.prompt_tokens, completion.completion_tokens, completion.total_tokens) == (42, 17, 59)
    request = fake_llm.last_request
    assert request.wire == WIRE_OF[provider_type]
    assert request.stream is False
    assert request.model == expected_model(provider)
    assert completion.model == expected_model(provider)
    assert SYSTEM in sent_texts(request.body) and USER in sent_texts(request.body)
    assert request.key == KEY


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_streaming_completion(fake_llm: FakeLLMServer, provider_type: str) -> None:
    provider = make_provider(provider_type, fake_llm)
    fake_llm.enqueue(text=REPLY, prompt_tokens=30, completion_tokens=12)
    deltas: list[str] = []

    completion = provider.complete(MESSAGES, on_delta=deltas.append)

    assert len(deltas) > 3
    assert "".join(deltas) == REPLY == completion.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (30, 12)
    request = fake_llm.last_request
    assert request.stream is True
    assert request.model == expected_model(provider)
    assert SYSTEM in sent_texts(request.body) and USER in sent_texts(request.body)
    assert request.key == KEY


def test_system_prompt_goes_where_each_vendor_wants_it(fake_llm: FakeLLMServer) -> None:
    fake_llm.default_text = "ok"
    conversation = [*MESSAGES, Message("assistant", "a first try"), Message("user", "fix it")]
    for provider_type in ("gemini", "anthropic", "openai"):
        make_provider(provider_type, fake_llm).complete(conversation)
    gemini, anthropic, openai = (request.body for request in fake_llm.requests)

    assert gemini["systemInstruction"]["parts"][0]["text"] == SYSTEM
    assert [content["role"] for content in gemini["contents"]] == ["user", "model", "user"]
    assert anthropic["system"] == SYSTEM
    assert [turn["role"] for turn in anthropic["messages"]] == ["user", "assistant", "user"]
    assert anthropic["max_tokens"] > 0
    assert openai["messages"][0] == {"role": "system", "content": SYSTEM}


def test_openai_stream_falls_back_when_server_rejects_stream_options(fake_llm: FakeLLMServer) -> None:
    provider = make_provider("openai", fake_llm)
    fake_llm.enqueue(status=400, message="Unrecognized request argument supplied: stream_options")
    fake_llm.enqueue(text="plain stream")
    deltas: list[str] = []

    completion = provider.complete(MESSAGES, on_delta=deltas.append)

    assert completion.text == "".join(deltas) == "plain stream"
    first, second = fake_llm.requests
    assert "stream_options" in first.body and "stream_options" not in second.body
    assert completion.total_tokens == 0  # no usage without stream_options: tolerated


def test_openai_with_base_url_needs_no_key(fake_llm: FakeLLMServer) -> None:
    cls = load_provider_class("openai")
    with_url = ProviderConfig(name="ollama", provider_type="openai", base_url=fake_llm.base_url_for("openai"))
    assert cls.key_required(with_url) is False
    assert cls.key_required(ProviderConfig(name="o", provider_type="openai")) is True
    fake_llm.enqueue(text="no key needed")

    completion = make_provider("openai", fake_llm, key=None, model="llama3.2").complete(MESSAGES)

    assert completion.text == "no key needed"
    assert fake_llm.last_request.model == "llama3.2"
    assert fake_llm.last_request.key == "not-needed"


@pytest.mark.parametrize("provider_type", ["azure_openai", "gemini", "anthropic"])
def test_other_vendors_require_a_key(fake_llm: FakeLLMServer, provider_type: str) -> None:
    cls = load_provider_class(provider_type)
    assert (
        cls.key_required(ProviderConfig(name="x", provider_type=provider_type, base_url="http://h")) is True
    )
    with pytest.raises(ConfigError) as caught:
        make_provider(provider_type, fake_llm, key=None)
    assert "set-key my-" in caught.value.hint


def test_openai_without_base_url_or_key_is_a_config_error() -> None:
    cls = load_provider_class("openai")
    with pytest.raises(ConfigError) as caught:
        cls(ProviderConfig(name="main", provider_type="openai"), None)
    assert "manimagent providers set-key main" in caught.value.hint
    assert "OPENAI_API_KEY" in caught.value.hint


# ----------------------------------------------------------------------------- azure specifics


def test_azure_sends_api_version_and_deployment(fake_llm: FakeLLMServer) -> None:
    provider = make_provider("azure_openai", fake_llm, api_version="2025-01-01-preview")
    fake_llm.enqueue(text="azure says hi")

    assert provider.complete(MESSAGES).text == "azure says hi"
    request = fake_llm.last_request
    assert request.path == "/openai/deployments/manim-gpt/chat/completions"
    assert request.query["api-version"] == "2025-01-01-preview"
    assert request.headers["api-key"] == KEY


def test_azure_endpoint_from_env_and_default_api_version(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_llm.url)
    provider = make_provider("azure_openai", fake_llm, base_url=None, deployment=None, model="gpt-4o")
    fake_llm.enqueue(text="from env")

    assert provider.complete(MESSAGES).text == "from env"
    assert fake_llm.last_request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert fake_llm.last_request.query["api-version"] == "2024-10-21"


def test_azure_without_endpoint_is_a_config_error(fake_llm: FakeLLMServer) -> None:
    with pytest.raises(ConfigError) as caught:
        make_provider("azure_openai", fake_llm, base_url=None)
    assert "--base-url" in caught.value.hint and "AZURE_OPENAI_ENDPOINT" in caught.value.hint


# ----------------------------------------------------------------------------- failures


ERROR_CASES = [
    (500, "server"),
    (503, "server"),
    (401, "auth"),
    (403, "auth"),
    (429, "rate_limit"),
    (400, "bad_request"),
    (404, "bad_request"),
]


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
@pytest.mark.parametrize(("status", "kind"), ERROR_CASES)
def test_http_errors_are_classified_and_scrubbed(
    fake_llm: FakeLLMServer, provider_type: str, status: int, kind: str
) -> None:
    provider = make_provider(provider_type, fake_llm)
    fake_llm.enqueue(status=status, message=f"Incorrect API key provided: {KEY} (Bearer {KEY})")

    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES)

    error = caught.value
    assert (error.kind, error.provider) == (kind, f"my-{provider_type}")
    assert f"HTTP {status}" in error.message
    assert KEY not in error.one_line() and KEY not in str(error)
    assert len(fake_llm.requests) == 1  # max_retries=0: no retry
    if kind == "auth":
        assert f"manimagent providers set-key my-{provider_type}" in error.hint


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
@pytest.mark.parametrize("stream", [False, True])
def test_timeout(fake_llm: FakeLLMServer, provider_type: str, stream: bool) -> None:
    provider = make_provider(provider_type, fake_llm, timeout=0.5)
    fake_llm.enqueue(text="too late", delay=2)

    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES, on_delta=(lambda _: None) if stream else None)

    assert caught.value.kind == "timeout"
    assert caught.value.falls_through


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_connection_refused(fake_llm: FakeLLMServer, provider_type: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    provider = make_provider(provider_type, fake_llm, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES)

    assert caught.value.kind == "connection"
    assert KEY not in caught.value.one_line()


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
@pytest.mark.parametrize("stream", [False, True])
def test_empty_reply(fake_llm: FakeLLMServer, provider_type: str, stream: bool) -> None:
    provider = make_provider(provider_type, fake_llm)
    fake_llm.enqueue(text="")

    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES, on_delta=(lambda _: None) if stream else None)

    assert caught.value.kind == "reply"
    assert not caught.value.falls_through


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_wrong_key_rejected_by_server_is_auth(fake_llm: FakeLLMServer, provider_type: str) -> None:
    """The server's own wrong-key answer (Gemini's is a 400 with reason API_KEY_INVALID)."""
    fake_llm.expected_key = "sk-the-right-one"
    provider = make_provider(provider_type, fake_llm)

    with pytest.raises(ProviderError) as caught:
        provider.complete(MESSAGES)

    assert caught.value.kind == "auth"
    assert KEY not in caught.value.one_line()
    assert provider.vendor_key_envs[0] in caught.value.hint


def test_right_key_accepted_by_server(fake_llm: FakeLLMServer) -> None:
    fake_llm.expected_key = KEY
    fake_llm.enqueue(text="welcome")
    assert make_provider("gemini", fake_llm).complete(MESSAGES).text == "welcome"


def test_scrub_removes_keys_and_tokens() -> None:
    text = f"bad key {KEY}; Authorization: Bearer abc.def.ghi; url ?key=AIzaSyExample123456&alt=sse"
    cleaned = scrub(text, KEY)
    assert KEY not in cleaned and "abc.def.ghi" not in cleaned and "AIzaSyExample123456" not in cleaned
    assert "alt=sse" in cleaned


# ----------------------------------------------------------------------------- anthropic extra, registry


def test_anthropic_missing_package_is_a_config_error(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = load_provider_class("anthropic")
    monkeypatch.setitem(sys.modules, "anthropic", None)

    with pytest.raises(ConfigError) as caught:
        cls(ProviderConfig(name="claude", provider_type="anthropic", base_url=fake_llm.url), KEY)

    assert "needs the anthropic package" in caught.value.message
    assert caught.value.hint == "pip install 'manimagent[anthropic]'"


def test_anthropic_default_model_is_not_deprecated() -> None:
    deprecated = pytest.importorskip("anthropic._data", reason="the SDK's private model list moved")
    DEPRECATED_MODELS = deprecated.DEPRECATED_MODELS  # noqa: N806

    assert load_provider_class("anthropic").default_model not in DEPRECATED_MODELS


def test_load_provider_class_unknown_type() -> None:
    with pytest.raises(BadInput) as caught:
        load_provider_class("cohere")
    for valid in PROVIDER_TYPES:
        assert valid in caught.value.one_line()


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_registry_classes(provider_type: str) -> None:
    cls = load_provider_class(provider_type)
    assert issubclass(cls, LLMProvider)
    assert cls.type_name == provider_type
    assert cls.default_model and cls.vendor_key_envs


def test_importing_providers_does_not_import_vendor_sdks() -> None:
    code = (
        "import sys, manimagent.providers, manimagent.providers.base\n"
        "loaded = sorted(m for m in ('openai', 'google.genai', 'anthropic', 'httpx', 'httpx2') if m in "
        "sys.modules)\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- the fake server itself


def test_fake_server_per_wire_queue_and_default(fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(text="for anyone")
    fake_llm.enqueue(text="for gemini", wire="gemini")
    fake_llm.default_text = "default"

    assert make_provider("openai", fake_llm).complete(MESSAGES).text == "for anyone"
    assert make_provider("gemini", fake_llm).complete(MESSAGES).text == "for gemini"
    assert make_provider("anthropic", fake_llm).complete(MESSAGES).text == "default"
    assert fake_llm.pending == 0


def test_fake_server_without_script_answers_500(fake_llm: FakeLLMServer) -> None:
    with pytest.raises(ProviderError) as caught:
        make_provider("openai", fake_llm).complete(MESSAGES)
    assert caught.value.kind == "server"
    assert "no scripted reply left" in caught.value.message


def test_fake_server_standalone(tmp_path: Path) -> None:
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"text": "scripted one"}, {"status": 429, "message": "slow down"}]))
    fakellm = Path(__file__).with_name("fakellm.py")
    process = subprocess.Popen(
        [sys.executable, str(fakellm), "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        provider = load_provider_class("openai")(
            ProviderConfig(name="sub", provider_type="openai", base_url=f"{base}/v1", max_retries=0), KEY
        )
        assert provider.complete(MESSAGES).text == "scripted one"
        with pytest.raises(ProviderError) as caught:
            provider.complete(MESSAGES)
        assert caught.value.kind == "rate_limit"
        _post(f"{base}/_fakellm/replies", [{"text": "added later"}])
        assert provider.complete(MESSAGES).text == "added later"
        recorded = json.load(urllib.request.urlopen(f"{base}/_fakellm/requests"))
        assert [request["wire"] for request in recorded] == ["openai"] * 3
        assert recorded[0]["body"]["messages"][1]["content"] == USER
        _post(f"{base}/_fakellm/reset", {})
        assert json.load(urllib.request.urlopen(f"{base}/_fakellm/requests")) == []
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def _post(url: str, payload: object) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request).close()
