"""A narrated scene whose speech service comes from an agent's own module that is not installed
(scriptcheck/speech.py): the service becomes manim-voiceover's PyTTSX3Service, and the scene renders
with the narration engine's voice."""

from __future__ import annotations

import ast

import pytest

from manimagent.scriptcheck.speech import IMPORT, fix_missing_speech_service
from test_voiceover import audio_seconds, needs_espeak

AGENT_SCENE = """from manim import *
from manim_voiceover import VoiceoverScene
from {module} import {imported}  # You MUST import like this


class Told(VoiceoverScene):
    def construct(self):
        self.set_speech_service({service})
        with self.voiceover(text="A square appears.") as tracker:
            self.play(Create(Square()), run_time=tracker.duration)
"""


def scene(module="src.utils.kokoro_voiceover", imported="KokoroService", service="KokoroService()"):
    return AGENT_SCENE.format(module=module, imported=imported, service=service)


@pytest.mark.parametrize(
    ("module", "imported", "service"),
    [
        ("src.utils.kokoro_voiceover", "KokoroService", "KokoroService()"),
        ("utils.elevenlabs_voiceover", "get_speech_service", "get_speech_service()"),
        ("my_tts_wrapper", "Voice", 'Voice(voice="af_heart", lang="en-us")'),
        ("my_tts_wrapper", "make as Voice", "Voice"),
    ],
)
def test_a_missing_speech_service_becomes_the_offline_pyttsx3_service(module, imported, service):
    fixed, fixes = fix_missing_speech_service(scene(module, imported, service))
    assert len(fixes) == 1 and fixes[0][1] == 3, fixes
    assert module in fixes[0][0] and "PyTTSX3Service" in fixes[0][0]
    assert IMPORT in fixed and module not in fixed
    assert "self.set_speech_service(PyTTSX3Service())" in fixed
    ast.parse(fixed)
    assert "# You MUST import like this" in fixed  # the rest of the file is as written


def test_a_relative_import_of_the_service_is_fixed_too():
    fixed, fixes = fix_missing_speech_service(scene(module=".voices", imported="Kokoro", service="Kokoro()"))
    assert fixes and "from .voices import Kokoro" in fixes[0][0]
    assert "Kokoro" not in fixed.replace("# You MUST", "")


@pytest.mark.parametrize(
    "code",
    [
        # the module is installed: its own error (if any) is the author's to see
        scene(module="manim_voiceover.services.gtts", imported="GTTSService", service="GTTSService()"),
        # the name is used for something else too: replacing it would change the scene
        scene().replace('text="A square appears."', "text=KokoroService.greeting"),
        # the import brings other names the scene needs
        scene(imported="KokoroService, helper"),
        # not a narrated scene
        scene().replace("from manim_voiceover import VoiceoverScene\n", ""),
        # a syntax error is the check's to report
        scene() + "\ndef broken(:\n",
    ],
    ids=["installed", "used-elsewhere", "other-names", "not-narrated", "syntax-error"],
)
def test_the_fix_leaves_alone_what_it_cannot_be_sure_of(code):
    fixed, fixes = fix_missing_speech_service(code)
    assert (fixed, fixes) == (code, [])


@pytest.mark.slow
@needs_espeak
def test_the_scene_of_an_agent_with_its_own_tts_module_renders_with_speech(cli, tmp_path):
    path = tmp_path / "told.py"
    path.write_text(scene())
    result = cli("render", str(path), "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["success"], doc
    assert [fix["name"] for fix in doc["fixes"]] == ["speech-service"], doc["fixes"]
    assert audio_seconds(doc["output_path"]) > 1.0
    stored = cli("scripts", "show", doc["script_id"], "--json").json()["content"]
    assert IMPORT in stored and "kokoro" not in stored.lower()
