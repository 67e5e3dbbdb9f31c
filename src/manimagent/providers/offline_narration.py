"""Narration for the offline provider's scenes: a composed script becomes a `VoiceoverScene` whose
animations each play while their sentence is spoken (manim-voiceover waits for the sentence's end).

Recipes with a story of their own (the Pythagorean theorem) have one sentence per animation;
the others get one sentence for their part of the scene, spoken while its first animation plays.
The speech service named in the script is manim-voiceover's pyttsx3 one; the engine that really
speaks is `voiceover.engine` (render/voice_hook.py).
"""

from __future__ import annotations

import re

from manimagent.providers.offline_recipes import RECIPES_BY_NAME, Kind, _parts, analyse_prompt, clean_display

HEADER = "from manim import *\n"
IMPORTS = (
    "from manim import *\nfrom manim_voiceover import VoiceoverScene\n"
    "from manim_voiceover.services.pyttsx3 import PyTTSX3Service\n"
)
BODY_INDENT = " " * 8
SECTION_BREAK = re.compile(r"^\s+self\.clear_stage\(")
CLASS_LINE = re.compile(r"^class (\w+)\(Scene\):", re.MULTILINE)
MAX_CARD_WORDS = 40

# one sentence per top-level animation of the recipe, in its order
STEP_SENTENCES: dict[str, tuple[str, ...]] = {
    "pythagorean_theorem": (
        "Here is a right triangle. Its two legs are three and four units long.",
        "Now we draw a square on each of its three sides.",
        (
            "The squares on the legs have areas a squared and b squared. The square on the hypotenuse has "
            "area c squared."
        ),
        "The Pythagorean theorem says: a squared plus b squared equals c squared.",
        "Here, nine plus sixteen is twenty five, which is five squared.",
    ),
    "quadratic_formula": (
        "Here is a quadratic equation.",
        "Its solutions come from the quadratic formula.",
    ),
    "euler_identity": (
        "This is Euler's identity.",
        "It joins five fundamental constants in one equation.",
    ),
}


def narrate(code: str, prompt: str) -> str:
    """`code` (a script composed by offline_recipes for `prompt`) as a narrated VoiceoverScene."""
    sections = _split_sections(_construct_body(code))
    sentences = _section_sentences(prompt, len(sections))
    narrated = [_narrate_section(lines, said) for lines, said in zip(sections, sentences, strict=False)]
    return _assemble(code, narrated)


def _construct_body(code: str) -> list[str]:
    lines = code.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "def construct(self):") + 1
    return lines[start:]


def _split_sections(body: list[str]) -> list[list[str]]:
    """The construct body in its parts: a `self.clear_stage(...)` line starts the next one."""
    sections: list[list[str]] = [[]]
    for line in body:
        if SECTION_BREAK.match(line):
            sections.append([])
        sections[-1].append(line)
    return sections


def _section_sentences(prompt: str, count: int) -> list[tuple[str, ...]]:
    """What is said over each part: its recipe's sentences, or one sentence naming the part."""
    facts = analyse_prompt(prompt)
    parts = _parts(list(facts.mentions)) if facts.mentions else []
    if len(parts) != count:  # a title card or a safer rung: the prompt itself
        words = clean_display(prompt).split()
        return [(" ".join(words[:MAX_CARD_WORDS]) or "A short animation.",)] + [()] * (count - 1)
    return [STEP_SENTENCES.get(part) or (_part_sentence(part, facts),) for part in parts]


def _part_sentence(part: str, facts) -> str:
    if part == "story":
        names = [
            m.recipe.name.replace("_", " ")
            for m in facts.mentions
            if m.recipe.kind in (Kind.SHAPE, Kind.MOTION)
        ]
        return "Watch: " + ", then ".join(dict.fromkeys(names)) + "."
    if part == "plots":
        names = [m.recipe.name.replace("_", " ") for m in facts.mentions if m.recipe.kind is Kind.PLOT]
        return "Here is the " + " and the ".join(dict.fromkeys(names)) + "."
    if part in ("title", "text"):
        return " ".join(facts.display.split()[:MAX_CARD_WORDS]) + "."
    recipe = RECIPES_BY_NAME.get(part)
    return f"Let us {recipe.example}." if recipe is not None else "Here is the next part."


def _narrate_section(lines: list[str], sentences: tuple[str, ...]) -> list[str]:
    """Each top-level `self.play(...)` of the part, in order, inside the voiceover of its sentence;
    sentences left over are said with the last animation that has one."""
    plays = [i for i, line in enumerate(lines) if line.startswith(BODY_INDENT + "self.play(")]
    if not plays or not sentences:
        return lines
    said = list(sentences[: len(plays)])
    said[-1] = " ".join([said[-1], *sentences[len(plays) :]])
    wrapped = dict(zip(plays, said, strict=False))
    out: list[str] = []
    for index, line in enumerate(lines):
        if index in wrapped:
            out += [f"{BODY_INDENT}with self.voiceover(text={wrapped[index]!r}):", f"    {line}"]
        else:
            out.append(line)
    return out


def _assemble(code: str, sections: list[list[str]]) -> str:
    head = code.splitlines()
    start = next(i for i, line in enumerate(head) if line.strip() == "def construct(self):") + 1
    body = [
        f"{BODY_INDENT}self.set_speech_service(PyTTSX3Service())",
        *[line for section in sections for line in section],
    ]
    text = "\n".join([*head[:start], *body]) + "\n"
    text = text.replace(HEADER, IMPORTS, 1)
    return CLASS_LINE.sub(r"class \1(VoiceoverScene):", text, count=1)
