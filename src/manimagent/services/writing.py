"""Asking an LLM for a script: the reply's code extracted, with a second chance for a reply that
holds none. Shared by generation (services/generate.py) and repair (services/repair.py).

Only the reply's shape is checked here (it parses and defines a Scene); the full check (policy,
names, fixes) runs once per attempt, when the pipeline prepares the code for its render.
"""

from __future__ import annotations

from manimagent.context import Context
from manimagent.errors import InvalidScript
from manimagent.events import CodeReady
from manimagent.prompts import extract_code, no_code_messages
from manimagent.providers.base import Message
from manimagent.scriptcheck.names import manim_version
from manimagent.scriptcheck.scenes import find_scenes
from manimagent.scriptcheck.source import parse_script
from manimagent.services import llm


def prompt_version() -> str:
    """The manim version the prompts name: the installed one."""
    return manim_version() or "0.19"


def script_scenes(code: str, label: str) -> list[str]:
    """The scenes of an LLM's script; InvalidScript when it does not parse or defines none."""
    scenes = find_scenes(parse_script(code, label))
    if not scenes:
        raise InvalidScript(
            f"{label} defines no Scene class",
            hint="A Manim script needs a class deriving from Scene (or ThreeDScene, MovingCameraScene, ...)",
        )
    return scenes


def ask_for_script(
    ctx: Context, chain: list[llm.Candidate], messages: list[Message], attempts: int = 2
) -> tuple[llm.Answer, str, list[str]]:
    """Call the LLM until its reply holds a script (a second chance for garbage);
    returns the answer, the code and its scenes, and announces the code (CodeReady)."""
    answer = llm.complete(ctx, chain, messages)
    problem: InvalidScript | None = None
    for _ in range(attempts):
        try:
            code = extract_code(answer.completion.text)
            scenes = script_scenes(code, "the LLM's script")
            ctx.events(CodeReady(code=code, scenes=scenes))
            return answer, code, scenes
        except InvalidScript as exc:
            problem = exc
        messages = no_code_messages(messages, answer.completion.text)
        answer = _merge(answer, llm.complete(ctx, [_winner(answer, chain)], messages))
    assert problem is not None
    raise problem


def _winner(answer: llm.Answer, chain: list[llm.Candidate]) -> llm.Candidate:
    reason = next((c.reason for c in chain if c.config == answer.config), "configured")
    return llm.Candidate(answer.config, "explicit" if reason == "explicit" else reason)


def _merge(first: llm.Answer, second: llm.Answer) -> llm.Answer:
    second.completion.prompt_tokens += first.completion.prompt_tokens
    second.completion.completion_tokens += first.completion.completion_tokens
    second.attempts = first.attempts + second.attempts
    return second
