"""The host side of narration: which renders speak, and the files a narrated job carries.

A script that imports `manim_voiceover` is narrated. Its job folder gets the hook
(`voice_hook.py`, run before manim), `narration.json` (the engine, the voice) and, for a network
engine, `narration/<file>`: audio the host synthesised before the render, found by its text. The
offline engine (espeak-ng) speaks inside the render; a render never has network either way.

    <job>/voice_hook.py
    <job>/narration.json      {"engine", "voice", "rate", "recorded": {text: file}}
    <job>/narration/<file>    a network engine's audio, one file per text
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

HOOK_FILE = "voice_hook.py"
SETTINGS_FILE = "narration.json"
RECORDED_DIR = "narration"
ENGINES = ("offline", "openai", "azure", "gemini", "auto")
NETWORK_ENGINES = ("openai", "azure", "gemini")
VOICEOVER_CALLS = ("voiceover", "add_voiceover_text")


@dataclass(frozen=True)
class Narration:
    """How a narrated render speaks. `recorded`: text -> audio file on the host (network engines)."""

    engine: str = "offline"
    voice: str | None = None
    rate: int | None = None
    recorded: dict[str, Path] = field(default_factory=dict)

    def identity(self) -> str:
        """What decides the sound (for the render cache key): engine, voice, rate, the audio's bytes."""
        audio = sorted((text, _digest(path)) for text, path in self.recorded.items())
        return json.dumps(
            {"engine": self.engine, "voice": self.voice, "rate": self.rate, "audio": audio}, sort_keys=True
        )

    def settings(self) -> dict:
        return {
            "engine": self.engine,
            "voice": self.voice,
            "rate": self.rate,
            "recorded": {text: path.name for text, path in self.recorded.items()},
        }


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"


def is_narrated(code: str) -> bool:
    """Whether `code` imports manim_voiceover (a VoiceoverScene, or one of its services)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "manim_voiceover" in code
    return imports_voiceover(tree)


def imports_voiceover(tree: ast.Module) -> bool:
    """Whether the parsed script imports manim_voiceover."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "manim_voiceover":
            return True
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "manim_voiceover" for alias in node.names
        ):
            return True
    return False


def narration_texts(code: str) -> list[str]:
    """The literal texts of `self.voiceover(text=...)` and `add_voiceover_text(...)`, as spoken
    (whitespace collapsed), in file order and once each: what a network engine synthesises first."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in VOICEOVER_CALLS
        ):
            continue
        text = _text_argument(node)
        if text is not None and text not in found:
            found.append(text)
    return found


def _text_argument(call: ast.Call) -> str | None:
    candidates = [keyword.value for keyword in call.keywords if keyword.arg == "text"] or call.args[:1]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return spoken(value.value)
    return None


def spoken(text: str) -> str:
    """A text as the hook looks it up: bookmarks removed, whitespace collapsed (manim-voiceover's way)."""
    import re

    text = re.sub(r"<bookmark\s*mark\s*=['\"]\w*[\"']\s*/>", "", text)
    return " ".join(text.split())


def hook_source() -> bytes:
    return resources.files("manimagent.render").joinpath(HOOK_FILE).read_bytes()


def job_files(narration: Narration) -> dict[str, bytes]:
    """The files (path in the job folder -> bytes) a narrated job carries."""
    files = {HOOK_FILE: hook_source(), SETTINGS_FILE: json.dumps(narration.settings()).encode()}
    for path in narration.recorded.values():
        files[f"{RECORDED_DIR}/{path.name}"] = path.read_bytes()
    return files


def install(job: Path, narration: Narration) -> None:
    """Put the narration's files into a local job folder (before the child is told to start)."""
    for name, data in job_files(narration).items():
        target = job / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
