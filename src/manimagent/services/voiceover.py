"""Narration of a render: the TTS engine `voiceover.engine` names, and for a network engine the audio
synthesised here, in the manimagent process, before the job starts. The render itself never has
network: the offline engine (espeak-ng) speaks inside the sandbox, a network engine's audio goes
into the job folder as files (render/narration.py).

A network engine is used only when the user chose it (`openai`, `azure`, `gemini`, or `auto` with
that vendor's key set). Its audio is kept under `<home>/cache/narration/`, so a render again (or
a repair that keeps the words) pays for no speech twice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from manimagent.context import Context
from manimagent.errors import BadInput, ConfigError, ProviderError
from manimagent.render.narration import ENGINES, NETWORK_ENGINES, Narration, is_narrated, narration_texts

ENGINE_ENV = "MANIMAGENT_VOICEOVER_ENGINE"
KEY_ENVS = {
    "openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
AZURE_ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
DEFAULT_MODELS = {
    "openai": "gpt-4o-mini-tts",
    "azure": "gpt-4o-mini-tts",
    "gemini": "gemini-2.5-flash-preview-tts",
}
DEFAULT_VOICES = {"openai": "alloy", "azure": "alloy", "gemini": "Kore"}
AZURE_API_VERSION = "2025-03-01-preview"
GEMINI_RATE = 24000  # Gemini TTS answers with 16-bit mono PCM at 24 kHz


def configured_engine(ctx: Context) -> str:
    """`voiceover.engine`, checked: one of ENGINES (a one-line error otherwise)."""
    name = str(ctx.settings.voiceover_engine or "offline").strip().lower()
    if name not in ENGINES:
        source = ctx.settings.sources.get("voiceover_engine", "config")
        raise BadInput(
            f"unknown TTS engine {name!r} (voiceover.engine, from {source})",
            hint=f"Use one of: {', '.join(ENGINES)}",
        )
    return name


def chosen_engine(ctx: Context) -> str:
    """The engine that speaks: the configured one, `auto` resolved (a vendor whose key is set, else offline)."""
    name = configured_engine(ctx)
    if name != "auto":
        return name
    return next(
        (
            vendor
            for vendor in NETWORK_ENGINES
            if _key(vendor) and (vendor != "azure" or os.environ.get(AZURE_ENDPOINT_ENV))
        ),
        "offline",
    )


def narration_for(ctx: Context, code: str) -> Narration | None:
    """How `code` speaks when rendered: None for a script that is not narrated."""
    if not is_narrated(code):
        return None
    engine = chosen_engine(ctx)
    voice, rate = ctx.settings.voiceover_voice, ctx.settings.voiceover_rate
    if engine == "offline":
        return Narration("offline", voice=voice, rate=int(rate) if rate else None)
    recorded = {text: synthesise(ctx, engine, text) for text in narration_texts(code)}
    return Narration(engine, voice=voice or DEFAULT_VOICES[engine], recorded=recorded)


# ---------------------------------------------------------------- network engines, outside the render


def synthesise(ctx: Context, engine: str, text: str) -> Path:
    """The audio of `text` from `engine`, from the narration cache or made now (one file per text)."""
    model = ctx.settings.voiceover_model or DEFAULT_MODELS[engine]
    voice = ctx.settings.voiceover_voice or DEFAULT_VOICES[engine]
    digest = hashlib.sha256(f"{engine}\n{model}\n{voice}\n{text}".encode()).hexdigest()[:24]
    target = (
        ctx.settings.paths.data
        / "cache"
        / "narration"
        / f"{engine}-{digest}.{'wav' if engine == 'gemini' else 'mp3'}"
    )
    if target.is_file() and target.stat().st_size > 0:
        return target
    key = _key(engine)
    if not key:
        raise ConfigError(
            f"voiceover.engine = {engine} needs a key, and none is set",
            hint=f"Set {' or '.join(KEY_ENVS[engine])}, or use voiceover.engine = offline (no key)",
        )
    audio = SPEAKERS[engine](key, text, model=model, voice=voice, timeout=float(ctx.settings.llm_timeout))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(audio)
    os.replace(partial, target)
    return target


def _key(engine: str) -> str | None:
    from manimagent.keys import lookup_key

    provider_name = {"azure": "azure_openai"}.get(engine, engine)
    return lookup_key(provider_name, None, KEY_ENVS[engine]).key


def _openai_speech(key: str, text: str, *, model: str, voice: str, timeout: float) -> bytes:
    import openai

    return _speech(openai.OpenAI(api_key=key, timeout=timeout, max_retries=2), text, model=model, voice=voice)


def _azure_speech(key: str, text: str, *, model: str, voice: str, timeout: float) -> bytes:
    import openai

    endpoint = os.environ.get(AZURE_ENDPOINT_ENV)
    if not endpoint:
        raise ConfigError(
            "voiceover.engine = azure needs the Azure OpenAI endpoint",
            hint=f"Set {AZURE_ENDPOINT_ENV}=https://RESOURCE.openai.azure.com",
        )
    client = openai.AzureOpenAI(
        api_key=key,
        azure_endpoint=endpoint,
        azure_deployment=model,
        api_version=AZURE_API_VERSION,
        timeout=timeout,
        max_retries=2,
    )
    return _speech(client, text, model=model, voice=voice)


def _speech(client, text: str, *, model: str, voice: str) -> bytes:
    import openai

    try:
        return client.audio.speech.create(model=model, voice=voice, input=text, response_format="mp3").content
    except openai.OpenAIError as exc:
        raise ProviderError(f"the TTS request failed: {type(exc).__name__}: {exc}", kind="tts") from exc


def _gemini_speech(key: str, text: str, *, model: str, voice: str, timeout: float) -> bytes:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key=key, http_options=types.HttpOptions(timeout=int(timeout * 1000)))
    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice))
        ),
    )
    try:
        response = client.models.generate_content(model=model, contents=text, config=config)
        pcm = response.candidates[0].content.parts[0].inline_data.data
    except (errors.APIError, AttributeError, IndexError, TypeError) as exc:
        raise ProviderError(f"the TTS request failed: {type(exc).__name__}: {exc}", kind="tts") from exc
    return _wav(pcm, GEMINI_RATE)


def _wav(pcm: bytes, rate: int) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm)
    return buffer.getvalue()


SPEAKERS = {"openai": _openai_speech, "azure": _azure_speech, "gemini": _gemini_speech}


def check_voiceover_request(ctx: Context, format: str | None) -> None:
    """`generate --voiceover`: the engine must be known and the output must have sound."""
    configured_engine(ctx)
    if format and format.lower() in ("png", "gif"):
        raise BadInput(
            f"--voiceover needs a format with sound, not --format {format.lower()}",
            hint="Use mp4, webm or mov (or leave --format out)",
        )
