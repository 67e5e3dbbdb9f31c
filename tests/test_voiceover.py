"""Narration: `generate --voiceover`, the TTS engines, and a narrated render inside the sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_cli_process
from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from manimagent.render import process
from manimagent.render.base import RenderRequest
from manimagent.render.cache import scene_key
from manimagent.render.narration import Narration, is_narrated, narration_texts
from manimagent.render.sandbox import SandboxPolicy

HAS_BWRAP = bool(shutil.which("bwrap")) and process.probe(sys.executable, SandboxPolicy()).kind == "bwrap"
HAS_ESPEAK = any(
    Path(folder, "libespeak-ng.so.1").exists()
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib")
)
needs_espeak = pytest.mark.skipif(
    not HAS_ESPEAK, reason="espeak-ng is not installed (scripts/setup.sh installs it)"
)

NARRATED = """from manim import *
from manim_voiceover import VoiceoverScene
from manim_voiceover.services.pyttsx3 import PyTTSX3Service


class Spoken(VoiceoverScene):
    def construct(self):
        self.set_speech_service(PyTTSX3Service())
        square = Square(color=BLUE)
        with self.voiceover(text="Here is a blue square. Watch it appear.") as tracker:
            self.play(Create(square), run_time=tracker.duration)
        with self.voiceover(text="Now it turns into a circle.") as tracker:
            self.play(Transform(square, Circle()), run_time=tracker.duration)
"""


def audio_seconds(path: str | Path) -> float:
    """The duration of the file's first audio stream (0 when it has none), from ffprobe."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=codec_type,duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    streams = json.loads(done.stdout).get("streams", [])
    return float(streams[0]["duration"]) if streams else 0.0


# ---------------------------------------------------------------- unit


def test_narrated_scripts_and_their_literal_texts_are_found():
    assert is_narrated(NARRATED) and not is_narrated("from manim import *\nclass A(Scene):\n    pass\n")
    assert narration_texts(NARRATED) == [
        "Here is a blue square. Watch it appear.",
        "Now it turns into a circle.",
    ]
    dynamic = NARRATED.replace('text="Now it turns into a circle."', 'text=f"Now {1}"')
    assert narration_texts(dynamic) == ["Here is a blue square. Watch it appear."]


def test_the_render_cache_key_holds_the_narration(tmp_path):
    request = RenderRequest(code=NARRATED, scenes=["Spoken"])
    keys = {scene_key(request, "Spoken", "local", True, 1.0)}
    for narration in (
        Narration("offline"),
        Narration("offline", voice="en-gb"),
        Narration("offline", rate=150),
    ):
        request.narration = narration
        keys.add(scene_key(request, "Spoken", "local", True, 1.0))
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"one")
    request.narration = Narration("openai", voice="alloy", recorded={"Hi": audio})
    keys.add(scene_key(request, "Spoken", "local", True, 1.0))
    audio.write_bytes(b"two")  # other audio for the same words
    keys.add(scene_key(request, "Spoken", "local", True, 1.0))
    assert len(keys) == 6


# ---------------------------------------------------------------- the prompt (fake LLM server)


@pytest.fixture
def openai_provider(cli, fake_llm, isolated_home):  # noqa: F811
    (isolated_home / "config.toml").write_text("[llm]\nmax_retries = 0\ntimeout = 5\n")
    assert (
        cli(
            "providers",
            "add",
            "fake",
            "--type",
            "openai",
            "--base-url",
            fake_llm.base_url_for("openai"),
            "--model",
            "gpt-test",
        ).code
        == 0
    )
    return fake_llm


def _system_prompt(fake) -> str:
    return fake.requests[-1].body["messages"][0]["content"]


def test_without_voiceover_the_prompt_does_not_ask_for_narration(cli, openai_provider):
    openai_provider.enqueue(
        text=(
            "```python\nfrom manim import *\nclass A(Scene):\n    def construct(self):\n"
            "        self.add(Dot())\n```"
        )
    )
    assert cli("generate", "A dot", "--no-execute", "--json").code == 0
    assert "VoiceoverScene" not in _system_prompt(openai_provider)


@pytest.mark.slow
@needs_espeak
def test_voiceover_asks_the_llm_for_a_timed_voiceover_scene_and_the_video_speaks(cli, openai_provider):
    openai_provider.enqueue(text=f"```python\n{NARRATED}```")
    result = cli("generate", "Turn a square into a circle", "--voiceover", "--json")
    assert result.code == 0, result.stderr
    system = _system_prompt(openai_provider)
    assert "VoiceoverScene" in system and "self.voiceover(text=" in system and "tracker.duration" in system
    assert "narrated Manim VoiceoverScene" in openai_provider.requests[-1].body["messages"][1]["content"]
    assert audio_seconds(result.json()["output_path"]) > 2.0


# ---------------------------------------------------------------- the offline engine in the sandbox


@pytest.mark.slow
@needs_espeak
@pytest.mark.skipif(
    not HAS_BWRAP and not __import__("os").environ.get("CI"), reason="bubblewrap cannot run here"
)
def test_offline_voiceover_with_no_key_is_a_sandboxed_video_with_more_than_3_s_of_speech(
    cli, isolated_home, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = cli("generate", "Explain the Pythagorean theorem", "--voiceover", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["provider"] == "offline" and doc["success"]
    assert audio_seconds(doc["output_path"]) > 3.0
    assert doc.get("poster_path") and Path(doc["poster_path"]).is_file(), (
        doc
    )  # the poster of a narrated video too
    shown = cli("executions", "show", doc["execution_id"], "--log", "--json").json()
    assert shown["sandbox"] == "bwrap"
    assert "/job/media/voiceovers/" in shown["log"]  # espeak-ng wrote its audio inside the job folder
    assert not list(tmp_path.rglob("voiceovers")) and not list(isolated_home.rglob("voiceovers")), (
        "audio was cached outside the job"
    )
    code = cli("scripts", "show", doc["script_id"], "--json").json()["content"]
    assert "class PythagoreanTheorem(VoiceoverScene)" in code and "with self.voiceover(text=" in code


# ---------------------------------------------------------------- a network engine: speech before the job


@pytest.mark.slow
@needs_espeak
def test_a_network_engine_speaks_before_the_job_and_the_render_only_reads_its_audio(
    cli, fake_llm, tmp_path, monkeypatch
):  # noqa: F811
    tone = tmp_path / "tone.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:a",
            "libmp3lame",
            str(tone),
        ],
        check=True,
    )
    fake_llm.speech_audio = tone.read_bytes()
    monkeypatch.setenv("MANIMAGENT_VOICEOVER_ENGINE", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "tts-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url_for("openai"))
    scene = tmp_path / "spoken.py"
    scene.write_text(NARRATED)
    result = cli("render", str(scene), "--json")
    assert result.code == 0, result.stderr
    speech = [r for r in fake_llm.requests if r.wire == "openai_speech"]
    assert [r.body["input"] for r in speech] == narration_texts(NARRATED) and speech[0].key == "tts-key"
    assert speech[0].body["model"] == "gpt-4o-mini-tts" and speech[0].body["voice"] == "alloy"
    assert 3.5 < audio_seconds(result.json()["output_path"]) < 6.0  # two 2 s sentences
    again = cli("render", str(scene), "--no-cache", "--json")
    assert again.code == 0 and len([r for r in fake_llm.requests if r.wire == "openai_speech"]) == 2, (
        "the same words were paid for twice"
    )


# ---------------------------------------------------------------- bad input


def test_voiceover_with_a_still_format_is_a_one_line_error():
    assert_one_line_error(run_cli_process("generate", "A circle", "--voiceover", "--format", "png"), 2)
    assert_one_line_error(
        run_cli_process("generate", "A circle", "--voiceover", "--format", "gif", "--json"), 2
    )


def test_an_unknown_tts_engine_is_a_one_line_error(isolated_home, tmp_path):
    result = run_cli_process(
        "generate", "A circle", "--voiceover", env={"MANIMAGENT_VOICEOVER_ENGINE": "klingon"}
    )
    assert_one_line_error(result, 2)
    assert (
        "unknown TTS engine 'klingon'" in result.stderr
        and "offline, openai, azure, gemini, auto" in result.stderr
    )
    (isolated_home / "config.toml").write_text('[voiceover]\nengine = "shouty"\n')
    scene = tmp_path / "spoken.py"
    scene.write_text(NARRATED)
    assert_one_line_error(run_cli_process("render", str(scene)), 2)
    refused = run_cli_process("config", "set", "voiceover.engine", "klingon")
    assert_one_line_error(refused, 2)
    assert "voiceover.engine must be one of offline, openai, azure, gemini, auto" in refused.stderr
    assert run_cli_process("config", "set", "voiceover.engine", "auto").code == 0


def test_a_network_engine_without_its_key_is_exit_3_before_any_render(tmp_path):
    scene = tmp_path / "spoken.py"
    scene.write_text(NARRATED)
    result = run_cli_process("render", str(scene), env={"MANIMAGENT_VOICEOVER_ENGINE": "gemini"})
    assert_one_line_error(result, 3)
    assert "GEMINI_API_KEY" in result.stderr


@pytest.mark.slow
@needs_espeak
def test_a_batch_speaks_through_the_warm_pool_whatever_service_the_script_names(cli, tmp_path):
    (tmp_path / "spoken.py").write_text(NARRATED)
    other = NARRATED.replace(
        "services.pyttsx3 import PyTTSX3Service", "services.gtts import GTTSService"
    ).replace("PyTTSX3Service()", 'GTTSService(lang="en")')
    (tmp_path / "google.py").write_text(
        other.replace("class Spoken", "class Google")
    )  # gTTS needs network: espeak-ng speaks instead
    result = cli("render", str(tmp_path / "spoken.py"), str(tmp_path / "google.py"), "--json")
    assert result.code == 0, result.stderr
    items = result.json()
    assert [item["success"] for item in items] == [True, True], items
    assert all(audio_seconds(item["output_path"]) > 2.0 for item in items)


def test_every_offline_recipe_narrates_as_a_voiceover_scene():
    import ast

    from manimagent.providers.offline_narration import narrate
    from manimagent.providers.offline_recipes import RECIPES, compose_scene, compose_title_card

    prompts = [recipe.example for recipe in RECIPES] + ["a red circle that rotates, then plot sin(x)"]
    for prompt in prompts:
        for latex in (True, False):
            code = narrate(compose_scene(prompt, latex=latex), prompt)
            ast.parse(code)
            assert "(VoiceoverScene):" in code and is_narrated(code), prompt
            assert narration_texts(code), f"nothing is said for {prompt!r}"
    card = narrate(compose_title_card("wibble wobble"), "wibble wobble")
    assert narration_texts(card) == ["wibble wobble"]


def test_a_docker_job_carries_the_narration_files(tmp_path):
    import io
    import tarfile

    from manimagent.render.agent_host import job_entries, make_tar
    from manimagent.render.narration import job_files

    audio = tmp_path / "openai-abc.mp3"
    audio.write_bytes(b"ID3 fake")
    files = job_files(Narration("openai", voice="alloy", recorded={"Hello there.": audio}))
    tar = tarfile.open(fileobj=io.BytesIO(make_tar(job_entries("tok", NARRATED, "scene.py", extra=files))))
    members = {member.name: member for member in tar.getmembers()}
    assert {
        "tok/scene.py",
        "tok/voice_hook.py",
        "tok/narration.json",
        "tok/narration",
        "tok/narration/openai-abc.mp3",
    } <= set(members)
    assert members["tok/narration"].isdir() and members["tok/narration/openai-abc.mp3"].mode == 0o600
    settings = json.loads(tar.extractfile("tok/narration.json").read())
    assert settings == {
        "engine": "openai",
        "voice": "alloy",
        "rate": None,
        "recorded": {"Hello there.": "openai-abc.mp3"},
    }


@pytest.mark.parametrize(
    ("env", "engine"),
    [
        ({}, "offline"),
        ({"OPENAI_API_KEY": "k"}, "openai"),
        ({"GEMINI_API_KEY": "k"}, "gemini"),
        ({"AZURE_OPENAI_API_KEY": "k"}, "offline"),
        ({"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"}, "azure"),
    ],
)
def test_auto_picks_a_vendor_whose_key_is_set_else_offline(monkeypatch, env, engine):
    from manimagent.context import local_context
    from manimagent.services.voiceover import chosen_engine

    monkeypatch.setenv("MANIMAGENT_VOICEOVER_ENGINE", "auto")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert chosen_engine(local_context()) == engine


@needs_espeak
def test_an_empty_offline_recording_is_spoken_again_by_espeak_ng_itself(tmp_path):
    """pyttsx3's espeak loop may return before its file is written on a busy machine; the hook then
    speaks the text with espeak-ng's program, and fails in one line if there is still no audio."""
    import runpy
    import wave

    from manimagent.render import voice_hook

    hook = runpy.run_path(voice_hook.__file__, run_name="voice_hook_test")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert hook["_has_frames"](str(empty)) is False
    spoken = tmp_path / "spoken.wav"
    hook["_espeak_cli"]("A right triangle has three sides.", str(spoken), {"rate": 170})
    with wave.open(str(spoken), "rb") as audio:
        assert audio.getnframes() / audio.getframerate() > 1.0
