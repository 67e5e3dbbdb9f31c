"""Narration inside a render: run by the render's child (render/child.py, the docker and pool agent)
before manim, when the host put it into the job folder with `narration.json` beside it.

It makes every `VoiceoverScene` speak with the engine the host chose (`voiceover.engine`), whatever
service the script names:
- `offline`: espeak-ng through pyttsx3, inside the sandbox, written as WAV into the job's media
  folder (manim-voiceover's own PyTTSX3Service names espeak's WAV output `.mp3`, which fails);
- a network engine (openai, azure, gemini): the audio the host synthesised before the render,
  in the job's `narration/` folder, found by its text. The render itself has no network.

Nothing here imports manimagent; it runs as a file of the job, like layout_hook.py.
"""

import json
import os


def _has_frames(path):
    import wave

    try:
        with wave.open(path, "rb") as audio:
            return audio.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def _espeak_cli(text, path, settings):
    """The same voice through espeak-ng's own program (inside the sandbox: /usr is read-only there)."""
    import shutil
    import subprocess

    program = shutil.which("espeak-ng") or shutil.which("espeak")
    if program is None:
        raise RuntimeError(
            "the offline TTS engine wrote no audio and espeak-ng's program is missing: install espeak-ng"
        )
    command = [program, "-w", path]
    if settings.get("voice"):
        command += ["-v", str(settings["voice"])]
    if settings.get("rate"):
        command += ["-s", str(int(settings["rate"]))]
    subprocess.run(
        [*command, "--", text], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
    )
    if not _has_frames(path):
        raise RuntimeError("the offline TTS engine (espeak-ng) wrote no audio for a voiceover text")


def _install(settings):
    _quiet_service_setup()
    service = _recorded_service(settings) if settings.get("engine", "offline") != "offline" else None
    _speak_with(service or _espeak_service(settings))


def _quiet_service_setup():
    """Whatever service the script makes is replaced (below), so making one must not ask on stdin
    to pip-install its extras (manim-voiceover's prompt_ask_missing_extras), nor load a
    speech-to-text model for word timing unless one is installed."""
    import importlib.util

    from manim_voiceover import helper
    from manim_voiceover.services import base
    from manim_voiceover.services.base import SpeechService

    helper.prompt_ask_missing_extras = base.prompt_ask_missing_extras = lambda *args, **kwargs: None
    set_transcription = SpeechService.set_transcription

    def set_transcription_if_installed(self, model=None, kwargs=None):
        installed = model is not None and importlib.util.find_spec("stable_whisper") is not None
        set_transcription(self, model=model if installed else None, kwargs=kwargs)

    SpeechService.set_transcription = set_transcription_if_installed


def _espeak_service(settings):
    from manim_voiceover.helper import remove_bookmarks
    from manim_voiceover.services.base import SpeechService

    class EspeakService(SpeechService):
        """espeak-ng through pyttsx3 (no network, no model), one WAV per text, cached in the job."""

        def __init__(self):
            SpeechService.__init__(self, cache_dir=os.path.abspath(os.path.join("media", "voiceovers")))
            self.engine = None

        def generate_from_text(self, text, cache_dir=None, path=None, **kwargs):
            cache_dir = cache_dir or self.cache_dir
            spoken = " ".join(remove_bookmarks(text).split())
            input_data = {
                "input_text": spoken,
                "service": "espeak-ng",
                "voice": settings.get("voice"),
                "rate": settings.get("rate"),
            }
            cached = self.get_cached_result(input_data, cache_dir)
            if cached is not None:
                return cached
            audio = self.get_audio_basename(input_data) + ".wav"
            target = os.path.join(str(cache_dir), audio)
            engine = self._engine()
            engine.save_to_file(spoken, target)
            engine.runAndWait()
            # pyttsx3's espeak loop can return before the file is written (a busy machine)
            if not _has_frames(target):
                _espeak_cli(spoken, target, settings)
            return {"input_text": text, "input_data": input_data, "original_audio": audio}

        def _engine(self):
            if self.engine is None:
                self.engine = _pyttsx3_engine(settings)
            return self.engine

    return EspeakService


def _pyttsx3_engine(settings):
    import pyttsx3

    try:
        engine = pyttsx3.init("espeak")
    except Exception as exc:  # no libespeak-ng, no voice data
        raise RuntimeError(
            f"the offline TTS engine (espeak-ng) cannot start: {exc}. Install espeak-ng "
            "(apt-get install espeak-ng, or scripts/setup.sh), or choose another voiceover.engine"
        ) from None
    if settings.get("voice"):
        engine.setProperty("voice", settings["voice"])
    if settings.get("rate"):
        engine.setProperty("rate", int(settings["rate"]))
    return engine


def _recorded_service(settings):
    from manim_voiceover.helper import remove_bookmarks
    from manim_voiceover.services.base import SpeechService

    class RecordedService(SpeechService):
        """The host's audio for each text (a network engine ran before the render, outside it)."""

        def __init__(self):  # the render's own folder: narration/ is the host's, maybe not writable
            SpeechService.__init__(self, cache_dir=os.path.abspath(os.path.join("media", "narration")))

        def generate_from_text(self, text, cache_dir=None, path=None, **kwargs):
            import shutil

            spoken = " ".join(remove_bookmarks(text).split())
            name = settings.get("recorded", {}).get(spoken)
            if name is None:
                raise RuntimeError(
                    f"the narration {spoken[:60]!r} was not synthesised before the render: with"
                    f" voiceover.engine = {settings['engine']} every voiceover text must be a string"
                    " literal (or use voiceover.engine = offline)"
                )
            shutil.copyfile(
                os.path.join("narration", name), os.path.join(str(cache_dir or self.cache_dir), name)
            )
            return {
                "input_text": text,
                "input_data": {"input_text": spoken, "service": settings["engine"]},
                "original_audio": name,
            }

    return RecordedService


def _speak_with(service):
    """Every VoiceoverScene speaks with `service`, whichever one the script sets (or none)."""
    from manim_voiceover.voiceover_scene import VoiceoverScene

    set_service = VoiceoverScene.set_speech_service
    add_text = VoiceoverScene._add_voiceover_text

    def set_speech_service(self, speech_service=None, create_subcaption=True):
        set_service(self, service(), create_subcaption)

    def _add_voiceover_text(self, text, *args, **kwargs):
        if getattr(self, "speech_service", None) is None:  # the script set none: the chosen engine
            set_speech_service(self)
        return add_text(self, text, *args, **kwargs)

    VoiceoverScene.set_speech_service = set_speech_service
    VoiceoverScene._add_voiceover_text = _add_voiceover_text
    try:  # the service the script names is replaced anyway: making it starts nothing
        from manim_voiceover.services.pyttsx3 import PyTTSX3Service

        PyTTSX3Service.__init__ = lambda self, *args, **kwargs: None
    except ImportError:
        pass


if __name__ == "voice_hook":  # run by the render (imported as a module, it does nothing)
    with open("narration.json", encoding="utf-8") as _handle:
        _install(json.load(_handle))
