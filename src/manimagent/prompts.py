"""What the LLM is told (generation, repair, refinement) and how code is taken out of its reply."""

from __future__ import annotations

import re

from manimagent.errors import InvalidScript
from manimagent.providers.base import Message
from manimagent.providers.markers import LATEX_LINE, NARRATION_LINE, REPAIR_MARK, REQUEST_CLOSE, REQUEST_OPEN
from manimagent.render.base import RenderFailure
from manimagent.render.layout import LAYOUT_ERROR
from manimagent.render.narration import is_narrated
from manimagent.scriptcheck.grounding import GroundingFacts

MAX_GROUNDING_MEMBERS = 60  # members listed in a repair prompt's grounding facts
MAX_PROMPT_CHARS = 200_000  # a prompt or instruction, in characters (CLI and REST alike)

RULES = """Rules:
- Reply with ONE complete Python file in a ```python fenced block, nothing else is needed.
- Start with `from manim import *`; use Manim Community Edition {version} only (not ManimGL, not old CE names:
  Create not ShowCreation, Tex/MathTex not TextMobject/TexMobject, Axes.plot not get_graph, Surface not ParametricSurface).
- Define at least one class deriving from Scene (or ThreeDScene / MovingCameraScene) with a construct method.
- Points are 3-D: np.array([x, y, 0]) or constants like UP, LEFT, ORIGIN.
- Use only colours manim defines (BLUE, RED, GREEN, YELLOW, ORANGE, PURPLE, PINK, TEAL, GOLD, MAROON, WHITE, GRAY ...).
- Keep everything inside the frame (about 14 x 8 units); clear or fade out old objects before new ones.
- No files, no network, no subprocesses, no input(), no randomness without a seed; keep the video under ~20 seconds.
{latex}"""
LATEX_YES = '- LaTeX is available: MathTex and Tex work; write TeX in raw strings (r"\\frac{a}{b}").'
LATEX_NO = (
    "- LaTeX is NOT installed: do not use MathTex, Tex or Matrix; write formulas with Text. Numbers "
    "need Text too:"
    ' DecimalNumber(..., mob_class=Text), axis numbers with axis_config={"label_constructor": Text}, '
    "BarChart(..., label_constructor=Text)."
)

VOICEOVER_RULES = """Narration (this video has a voice-over):
- Derive the scene from VoiceoverScene: `from manim_voiceover import VoiceoverScene` and
  `from manim_voiceover.services.pyttsx3 import PyTTSX3Service`; call `self.set_speech_service(PyTTSX3Service())`
  first in construct (manimagent chooses the real TTS engine; do not name another service).
- Speak in short sentences, each in `with self.voiceover(text="...") as tracker:` around the animations it
  describes, e.g. `self.play(Create(square), run_time=tracker.duration)`, so the animation is timed to the words.
- The text of every voiceover is a plain string literal (no f-strings, no variables); no bookmarks, no SSML.
- Explain what is shown, in the order it appears; about 3 to 8 sentences in all."""

_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)
_SCENE_CLASS = re.compile(r"^class\s+\w+\s*\([^)]*Scene[^)]*\)\s*:", re.MULTILINE)


def system_message(manim_version: str, has_latex: bool, voiceover: bool = False) -> Message:
    latex = LATEX_YES if has_latex else LATEX_NO
    text = (
        "You write Manim Community Edition animation scripts that render without errors.\n"
        + RULES.format(version=manim_version, latex=latex)
        + (f"\n{VOICEOVER_RULES}" if voiceover else "")
        + "\n"
        + LATEX_LINE.format("yes" if has_latex else "no")
        + (f"\n{NARRATION_LINE}" if voiceover else "")
    )
    return Message("system", text)


def generation_messages(
    prompt: str, manim_version: str, has_latex: bool, voiceover: bool = False
) -> list[Message]:
    """`voiceover`: ask for a narrated VoiceoverScene (manim-voiceover) timed to its animations."""
    kind = "a narrated Manim VoiceoverScene" if voiceover else "a Manim scene"
    user = f"Write {kind} for this request:\n{REQUEST_OPEN}\n{prompt}\n{REQUEST_CLOSE}"
    return [system_message(manim_version, has_latex, voiceover), Message("user", user)]


def repair_messages(
    prompt: str,
    code: str,
    failure: RenderFailure,
    manim_version: str,
    has_latex: bool,
    grounding: str | None = None,
) -> list[Message]:
    """`grounding`: the installed manim's facts about the failing name (default: looked up here)."""
    line = _line_of(code, failure.line)
    where = f"\nThe failing line {failure.line} is:\n    {line.strip()}" if line else ""
    facts = api_grounding_text(code, failure) if grounding is None else grounding
    user = (
        f"The original request:\n{REQUEST_OPEN}\n{prompt}\n{REQUEST_CLOSE}\n{REPAIR_MARK}\n"
        f"This script failed.\n"
        f"Error: {failure.error_type}: {failure.message}{where}{layout_advice(failure)}\n"
        + (f"\n{facts}\n" if facts else "")
        + f"\n```python\n{code}\n```\n\nReturn the whole corrected script."
    )
    return [system_message(manim_version, has_latex, is_narrated(code)), Message("user", user)]


EARLIER_FIX = (
    "\n\nAn earlier script failed with the same kind of error ({error}) and rendered after this change:\n"
    "```diff\n{diff}\n```\nApply the same kind of fix where it fits."
)


def with_earlier_fix(messages: list[Message], error: str, diff: str) -> list[Message]:
    """A repair prompt that also shows the diff that fixed the same kind of error before (fix memory)."""
    *head, last = messages
    return [*head, Message(last.role, last.content + EARLIER_FIX.format(error=error, diff=diff))]


def layout_advice(failure: RenderFailure) -> str:
    """For a render that worked but failed the layout check: what the findings mean and how to fix them."""
    if failure.error_type != LAYOUT_ERROR:
        return ""
    return (
        "\nThe video rendered, but the layout check found the problems above (scene time, mobject, how far)."
        " The visible frame is about 14.2 x 8 units, centred on ORIGIN (x from -7.1 to 7.1, y from -4 to 4)."
        " Keep every mobject inside it: scale long text down (scale_to_fit_width, font_size), wrap it, "
        "or place it"
        " with to_edge/next_to and a positive buff. Do not put text on top of text: arrange labels "
        "with next_to or"
        " VGroup(...).arrange(DOWN), and FadeOut or Transform the previous step before writing the next one."
    )


def api_grounding_text(code: str, failure: RenderFailure) -> str:
    """The installed manim's truth about an attribute, keyword, name or import failure ("" when none)."""
    from manimagent.scriptcheck.grounding import grounding_facts, parse_api_error
    from manimagent.scriptcheck.manim_api import default_manim_api

    if parse_api_error(failure) is None:
        return ""
    return grounding_text(grounding_facts(code, failure, default_manim_api()))


def grounding_text(facts: GroundingFacts | None) -> str:
    """The facts as prompt text: the real signature, the members, the 3 nearest names."""
    if facts is None:
        return ""
    if facts.install:
        return (
            f"The module {facts.error.owner} is not installed here (it is installed with "
            f"`{facts.install}`): write the scene with manim alone."
        )
    kind = {"attribute": "attribute", "keyword": "keyword argument", "name": "name", "import": "name"}[
        facts.error.kind
    ]
    lines = [f"Facts from the installed Manim (the {kind} `{facts.error.name}` does not exist there):"]
    if facts.signature:
        lines.append(f"- signature: {facts.signature}")
    if facts.members:
        label = "keywords it takes" if facts.error.kind == "keyword" else "members"
        lines.append(
            f"- {label}: {', '.join(facts.members[:MAX_GROUNDING_MEMBERS])}"
            + (" ..." if len(facts.members) > MAX_GROUNDING_MEMBERS else "")
        )
    if facts.nearest:
        lines.append(f"- nearest names: {', '.join(facts.nearest)}")
    return "\n".join(lines) if len(lines) > 1 else ""


def refine_messages(
    prompt: str, code: str, instruction: str, manim_version: str, has_latex: bool
) -> list[Message]:
    user = (
        f"This Manim script was written for the request below.\n{REQUEST_OPEN}\n{prompt}\n"
        f"{instruction}\n{REQUEST_CLOSE}\n\n"
        f"```python\n{code}\n```\n\nChange it as follows and return the whole new script: {instruction}"
    )
    return [system_message(manim_version, has_latex, is_narrated(code)), Message("user", user)]


def no_code_messages(messages: list[Message], reply: str) -> list[Message]:
    """A second chance for a reply that held no usable script."""
    excerpt = reply.strip()[:2000] or "(an empty reply)"
    follow_up = (
        "Your reply did not contain a complete Manim script in a ```python block. Reply with the whole "
        "script only."
    )
    return [*messages, Message("assistant", excerpt), Message("user", follow_up)]


def extract_code(reply: str) -> str:
    """The script in an LLM reply: the fenced block defining a Scene, else a bare script."""
    blocks = [
        match["body"]
        for match in _FENCE.finditer(reply)
        if match["lang"].lower() in {"", "python", "py", "python3"}
    ]
    with_scene = [block for block in blocks if _SCENE_CLASS.search(block)]
    if with_scene:
        return max(with_scene, key=len).strip() + "\n"
    if _SCENE_CLASS.search(reply) and "```" not in reply:
        return _strip_prose(reply)
    raise InvalidScript("the LLM's reply contains no Manim script (no Scene class in a code block)")


def _strip_prose(reply: str) -> str:
    lines = reply.strip().splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(("from ", "import ", "class ", "#", "def "))), 0
    )
    return "\n".join(lines[start:]).strip() + "\n"


def _line_of(code: str, number: int | None) -> str | None:
    if not number:
        return None
    lines = code.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else None
