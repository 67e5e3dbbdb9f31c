"""The built-in offline provider: no network, no key, the same script for the same request.

It reads the user's request and whether LaTeX is available from the messages the pipeline
builds (the conventions below), and answers with a script from `offline_recipes`. A repair
request gets a safer script: without LaTeX, then a title card, then a plain shape.
"""

from __future__ import annotations

import re

from manimagent.providers.base import Completion, DeltaSink, LLMProvider, Message
from manimagent.providers.markers import LATEX_LINE, NARRATION_LINE, REPAIR_MARK, REQUEST_CLOSE, REQUEST_OPEN
from manimagent.providers.offline_recipes import (
    compose_minimal_scene,
    compose_scene,
    compose_title_card,
    script_tag,
)

# The markers the pipeline's prompts carry (one definition, providers/markers.py): the request
# between REQUEST_OPEN and REQUEST_CLOSE lines, REPAIR_MARK on a line of its own in a repair,
# LATEX_LINE and NARRATION_LINE in the system message.

NO_RECIPE_NOTICE = (
    "No offline recipe matches this prompt (they know English words for shapes, graphs, equations...): "
    "it becomes a title card. Add an LLM provider for anything else (`manimagent providers add`)."
)
LATEX_LINE_RE = re.compile(r"^\s*LATEX_AVAILABLE:\s*(yes|no)\s*$", re.IGNORECASE | re.MULTILINE)


def latex_line(available: bool) -> str:
    """The system-message line that tells the offline provider whether LaTeX is installed."""
    return LATEX_LINE.format("yes" if available else "no")


def _latex_available(messages: list[Message]) -> bool:
    """What the system message says; without the line, assume no LaTeX (always renders)."""
    for message in messages:
        if message.role == "system":
            match = LATEX_LINE_RE.search(message.content)
            if match:
                return match.group(1).lower() == "yes"
    return False


def _request_span(lines: list[str]) -> tuple[int, int] | None:
    """Indexes of the `<request>` and `</request>` lines, when both are there."""
    stripped = [line.strip() for line in lines]
    if REQUEST_OPEN not in stripped:
        return None
    start = stripped.index(REQUEST_OPEN)
    if REQUEST_CLOSE not in stripped[start + 1 :]:
        return None
    return start, stripped.index(REQUEST_CLOSE, start + 1)


def extract_request(messages: list[Message]) -> tuple[str, bool, bool]:
    """(the user's request, LaTeX available, this is a repair) from the pipeline's messages."""
    latex = _latex_available(messages)
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    lines = last_user.splitlines()
    span = _request_span(lines)
    if span is None:
        repair = any(line.strip() == REPAIR_MARK for line in lines)
        request = "\n".join(line for line in lines if line.strip() != REPAIR_MARK)
        return request.strip(), latex, repair
    start, end = span
    outside = lines[:start] + lines[end + 1 :]
    repair = any(line.strip() == REPAIR_MARK for line in outside)
    return "\n".join(lines[start + 1 : end]).strip(), latex, repair


def repair_script(request: str, failed_text: str) -> str:
    """The next safer script: no LaTeX, then the title card, then a plain shape.

    `failed_text` is the repair message, which quotes the code that failed; the rung after the
    one quoted there (recognised by its code or its docstring tag) is the answer.
    """
    without_latex, title_card = compose_scene(request, latex=False), compose_title_card(request)
    if _quotes(failed_text, title_card):
        return compose_minimal_scene()
    if _quotes(failed_text, without_latex):
        return title_card
    return without_latex


def _quotes(failed_text: str, script: str) -> bool:
    tag = script_tag(script)
    return script.strip() in failed_text or (tag is not None and tag in failed_text)


def _narrated(messages: list[Message]) -> bool:
    """Whether the system message asks for a voice-over (`generate --voiceover`)."""
    return any(
        message.role == "system" and NARRATION_LINE in message.content.splitlines() for message in messages
    )


def _words(text: str) -> int:
    return len(text.split())


class OfflineProvider(LLMProvider):
    """Recipes instead of a model: deterministic, instant, and always renderable."""

    type_name = "offline"
    default_model = "recipes-v1"
    vendor_key_envs = ()
    needs_key = False

    def complete(self, messages: list[Message], on_delta: DeltaSink | None = None) -> Completion:
        request, latex, repair = extract_request(messages)
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        code = repair_script(request, last_user) if repair else compose_scene(request, latex=latex)
        if _narrated(messages):
            from manimagent.providers.offline_narration import narrate

            code = narrate(code, request)
        text = f"```python\n{code.rstrip()}\n```\n"
        if on_delta is not None:
            for line in text.splitlines(keepends=True):
                on_delta(line)
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=sum(_words(m.content) for m in messages),
            completion_tokens=_words(text),
            notice=None
            if repair or script_tag(code) != script_tag(compose_title_card(request))
            else NO_RECIPE_NOTICE,
        )
