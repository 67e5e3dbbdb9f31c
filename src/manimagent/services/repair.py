"""The LLM repair strategy the render loop is given (pipeline's `Repairer`): the failing code and
its error in, a new script out, with fix memory (services/fixmemory.py) on both sides.

The pipeline decides when to repair; this class only knows how: with the script's provider (or
the one asked for), never with the offline one, which writes new scenes and repairs nothing.
"""

from __future__ import annotations

from manimagent.attempt import RenderOptions, has_latex
from manimagent.context import Context
from manimagent.errors import InvalidScript, NotFound, ProviderError
from manimagent.prompts import repair_messages, with_earlier_fix
from manimagent.render.base import RenderFailure
from manimagent.services import fixmemory, llm
from manimagent.services.writing import ask_for_script, prompt_version
from manimagent.store.models import Script, utcnow

NO_LLM_REPAIR = (
    "No LLM is configured, so the script is not repaired beyond the deterministic fixes (the offline provider"
    " writes new scenes, it does not repair code); add one with `manimagent providers add`."
)


def repairer_for(ctx: Context, options: RenderOptions, provider: str | None = None) -> LlmRepairer:
    """The LLM repair step for renders with `options` (their engine says whether LaTeX is there)."""
    return LlmRepairer(ctx, has_latex(options.engine), provider)


class LlmRepairer:
    """Repairs with the script's provider (or `provider`); never with the offline one. A repair
    that renders is remembered (services/fixmemory) and shown to later repairs of the same kind of error."""

    def __init__(self, ctx: Context, latex: bool, provider: str | None = None):
        self.ctx = ctx
        self.latex = latex
        self.provider = provider

    def _chain(self, script_id: str) -> tuple[str, list[llm.Candidate]]:
        with self.ctx.session() as session:
            script = session.get(Script, script_id)
            if script is None:
                raise NotFound(f"script {script_id} was deleted while it rendered")
            prompt, chosen = script.prompt, self.provider or script.provider
        return prompt, llm.candidates(self.ctx, chosen)

    def unavailable(self, script_id: str) -> str | None:
        _prompt, chain = self._chain(script_id)
        offline = all(candidate.config.provider_type == "offline" for candidate in chain)
        return NO_LLM_REPAIR if offline else None

    def __call__(self, script_id: str, code: str, failure: RenderFailure) -> str:
        prompt, chain = self._chain(script_id)
        messages = repair_messages(prompt, code, failure, prompt_version(), self.latex)
        earlier = fixmemory.recall(self.ctx, failure)
        if earlier is not None:
            messages = with_earlier_fix(messages, earlier.error, earlier.diff)
        try:
            answer, new_code, _scenes = ask_for_script(self.ctx, chain, messages)
        except InvalidScript as exc:
            raise ProviderError(exc.message, kind="reply") from exc
        _add_usage(self.ctx, script_id, answer)
        return new_code

    def succeeded(self, script_id: str, failure: RenderFailure, before: str, after: str) -> None:
        fixmemory.remember(self.ctx, failure, before, after)


def _add_usage(ctx: Context, script_id: str, answer: llm.Answer) -> None:
    """The repair's tokens and provider attempts, added to its script's."""
    with ctx.session() as session:
        script = session.get(Script, script_id)
        if script is None:
            raise NotFound(f"script {script_id} was deleted while it rendered")
        script.prompt_tokens += answer.completion.prompt_tokens
        script.completion_tokens += answer.completion.completion_tokens
        script.total_tokens += answer.completion.total_tokens
        script.provider_attempts = [*script.provider_attempts, *answer.attempts]
        script.provider = script.provider or answer.config.name
        script.model = script.model or answer.completion.model
        script.updated_at = utcnow()
        session.add(script)
        session.commit()
