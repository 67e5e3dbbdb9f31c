"""Prompt to script (and to video): generation, refinement, and the LLM repairer of the render loop."""

from __future__ import annotations

from manimagent.attempt import RenderOptions, Repairer
from manimagent.context import Context
from manimagent.errors import AllProvidersFailed, BadInput, InvalidScript, ManimagentError, ProviderError
from manimagent.events import CodeReady
from manimagent.pipeline import run_attempts
from manimagent.prompts import (
    MAX_PROMPT_CHARS,
    extract_code,
    generation_messages,
    no_code_messages,
    refine_messages,
    repair_messages,
    with_earlier_fix,
)
from manimagent.providers.base import Message
from manimagent.render.base import RenderFailure
from manimagent.schemas import GenerateResult, ScriptGenerateResult, generate_result
from manimagent.scriptcheck.check import check_script
from manimagent.scriptcheck.names import manim_version
from manimagent.services import fixmemory, llm
from manimagent.services.ids import resolve_uuid
from manimagent.services.render import deliver, render_options
from manimagent.store.models import Script, ScriptStatus, utcnow


def clean_prompt(prompt: str | None, label: str = "the prompt") -> str:
    text = (prompt or "").strip()
    if not text:
        raise BadInput(
            f"{label} is empty", hint='Describe the animation, e.g. manimagent generate "Animate a circle"'
        )
    if len(text) > MAX_PROMPT_CHARS:
        raise BadInput(f"{label} is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
    if "\x00" in text:
        raise BadInput(f"{label} contains a NUL byte")
    return text


def _version() -> str:
    return manim_version() or "0.19"


def _ask_for_script(
    ctx: Context, chain: list[llm.Candidate], messages: list[Message], attempts: int = 2
) -> tuple[llm.Answer, str, list[str]]:
    """Call the LLM until its reply holds a checkable script (a second chance for garbage);
    returns the answer, the code and its scenes, and announces the code (CodeReady)."""
    answer = llm.complete(ctx, chain, messages)
    for _ in range(attempts):
        try:
            code = extract_code(answer.completion.text)
            scenes = check_script(code, ctx.manim_names(), "the LLM's script").scenes
            ctx.events(CodeReady(code=code, scenes=scenes))
            return answer, code, scenes
        except InvalidScript as exc:
            problem = exc
        messages = no_code_messages(messages, answer.completion.text)
        answer = _merge(answer, llm.complete(ctx, [_winner(answer, chain)], messages))
    raise problem


def _winner(answer: llm.Answer, chain: list[llm.Candidate]) -> llm.Candidate:
    reason = next((c.reason for c in chain if c.config == answer.config), "configured")
    return llm.Candidate(answer.config, "explicit" if reason == "explicit" else reason)


def _merge(first: llm.Answer, second: llm.Answer) -> llm.Answer:
    second.completion.prompt_tokens += first.completion.prompt_tokens
    second.completion.completion_tokens += first.completion.completion_tokens
    second.attempts = first.attempts + second.attempts
    return second


def _has_latex(ctx: Context, engine: str | None, container: str | None) -> bool:
    from manimagent.services.engines import select_engine

    try:
        return bool(getattr(select_engine(ctx, engine, container), "has_latex", True))
    except ManimagentError:
        return True


def _store_generated(
    ctx: Context,
    *,
    prompt: str,
    answer: llm.Answer | None,
    code: str,
    scenes: list[str],
    source: str,
    parent_id: str | None,
    error: str | None = None,
    attempts: list[dict] | None = None,
) -> Script:
    completion = answer.completion if answer else None
    script = Script(
        owner_id=ctx.user_id,
        prompt=prompt,
        content=code,
        scenes=scenes,
        scene_class=scenes[0] if scenes else None,
        status=ScriptStatus.FAILED.value if error else ScriptStatus.PENDING.value,
        source=source,
        provider=answer.config.name if answer else None,
        model=(completion.model or None) if completion else None,
        parent_id=parent_id,
        prompt_tokens=completion.prompt_tokens if completion else 0,
        completion_tokens=completion.completion_tokens if completion else 0,
        total_tokens=completion.total_tokens if completion else 0,
        provider_attempts=attempts if attempts is not None else (answer.attempts if answer else []),
        error=error,
    )
    with ctx.session() as session:
        session.add(script)
        session.commit()
    return script


def _write(
    ctx: Context,
    *,
    messages: list[Message],
    prompt: str,
    source: str,
    parent_id: str | None,
    provider: str | None,
    model: str | None,
) -> Script:
    """Ask for a script and store it; a failure is stored too (status failed, with the errors)."""
    chain = llm.candidates(ctx, provider, model)
    try:
        answer, code, scenes = _ask_for_script(ctx, chain, messages)
    except InvalidScript as exc:
        failure = ProviderError(f"the LLM gave no usable script: {exc.message}", kind="reply")
        _store_generated(
            ctx,
            prompt=prompt,
            answer=None,
            code="",
            scenes=[],
            source=source,
            parent_id=parent_id,
            error=failure.message,
        )
        raise failure from exc
    except (ProviderError, AllProvidersFailed) as exc:
        attempts = exc.details if isinstance(exc.details, list) else [{"ok": False, "error": exc.message}]
        _store_generated(
            ctx,
            prompt=prompt,
            answer=None,
            code="",
            scenes=[],
            source=source,
            parent_id=parent_id,
            error=exc.message,
            attempts=attempts,
        )
        raise
    return _store_generated(
        ctx, prompt=prompt, answer=answer, code=code, scenes=scenes, source=source, parent_id=parent_id
    )


def generate_script(
    ctx: Context,
    *,
    prompt: str,
    provider: str | None = None,
    model: str | None = None,
    auto_execute: bool = False,
    engine: str | None = None,
    container: str | None = None,
    quality: str | None = None,
    format: str | None = None,
    max_attempts: int | None = None,
    still_seconds: float | None = None,
    cache: bool | None = None,
    voiceover: bool = False,
) -> ScriptGenerateResult:
    """`scripts generate`: a new Script from a prompt, rendered too when `auto_execute`.
    `voiceover`: ask for a narrated VoiceoverScene (services/voiceover.py speaks it)."""
    text = clean_prompt(prompt)
    if voiceover:
        from manimagent.services.voiceover import check_voiceover_request

        check_voiceover_request(ctx, format)
    options = (
        _execute_options(ctx, engine, container, quality, format, max_attempts, still_seconds, cache)
        if auto_execute
        else None
    )
    messages = generation_messages(text, _version(), _has_latex(ctx, engine, container), voiceover=voiceover)
    script = _write(
        ctx,
        messages=messages,
        prompt=text,
        source="generated",
        parent_id=None,
        provider=provider,
        model=model,
    )
    return _after_write(ctx, script, provider, options, "Script generated.")


def refine_script(
    ctx: Context,
    *,
    ref: str,
    instruction: str,
    provider: str | None = None,
    model: str | None = None,
    auto_execute: bool = False,
    **render: object,
) -> ScriptGenerateResult:
    """`scripts refine`: a new Script (parent = the old one) from the old code and an instruction."""
    text = clean_prompt(instruction, "the instruction")
    with ctx.session() as session:
        parent = resolve_uuid(session, ctx, Script, ref, "script")
    options = _execute_options(ctx, **render) if auto_execute else None
    messages = refine_messages(
        parent.prompt,
        parent.content,
        text,
        _version(),
        _has_latex(ctx, render.get("engine"), render.get("container")),
    )
    prompt = f"{parent.prompt}\n\nRefinement: {text}"
    script = _write(
        ctx,
        messages=messages,
        prompt=prompt,
        source="refined",
        parent_id=parent.id,
        provider=provider or parent.provider,
        model=model,
    )
    return _after_write(ctx, script, provider or parent.provider, options, "Script refined.")


def _execute_options(
    ctx: Context,
    engine=None,
    container=None,
    quality=None,
    format=None,
    max_attempts=None,
    still_seconds=None,
    cache=None,
    partial=False,
) -> RenderOptions:
    return render_options(
        ctx,
        engine=engine,
        container=container,
        quality=quality,
        format=format,
        max_attempts=max_attempts,
        still_seconds=still_seconds,
        default_attempts=int(ctx.settings.max_attempts),
        cache=cache,
        partial=partial,
    )


def _after_write(
    ctx: Context, script: Script, provider: str | None, options: RenderOptions | None, message: str
) -> ScriptGenerateResult:
    execution = None
    if options is not None:
        execution = run_attempts(
            ctx, script.id, options, repairer_for(ctx, options, provider or script.provider)
        )
    with ctx.session() as session:
        status = session.get(Script, script.id).status
    return ScriptGenerateResult(
        success=execution.success if execution else True,
        script_id=script.id,
        message=message if execution is None or execution.success else f"{message} Rendering failed.",
        provider=script.provider,
        model=script.model,
        status=status,
        execution=execution,
        error=execution.error if execution else None,
    )


def generate(
    ctx: Context,
    *,
    prompt: str,
    provider: str | None = None,
    model: str | None = None,
    execute: bool = True,
    output: str | None = None,
    **render: object,
) -> GenerateResult:
    """`generate`: prompt -> script -> video, repairing up to max_attempts."""
    result = generate_script(
        ctx, prompt=prompt, provider=provider, model=model, auto_execute=execute, **render
    )
    return generate_result(result, deliver(result.execution, output) if result.execution else None)


NO_LLM_REPAIR = (
    "No LLM is configured, so the script is not repaired beyond the deterministic fixes (the offline provider"
    " writes new scenes, it does not repair code); add one with `manimagent providers add`."
)


def repairer_for(ctx: Context, options: RenderOptions, provider: str | None = None) -> Repairer:
    """The LLM repair step: the failing code and its error in, a new checked script out."""
    return LlmRepairer(ctx, bool(getattr(options.engine, "has_latex", True)), provider)


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
            prompt, chosen = script.prompt, self.provider or script.provider
        return prompt, llm.candidates(self.ctx, chosen)

    def unavailable(self, script_id: str) -> str | None:
        _prompt, chain = self._chain(script_id)
        return (
            NO_LLM_REPAIR if all(candidate.config.provider_type == "offline" for candidate in chain) else None
        )

    def __call__(self, script_id: str, code: str, failure: RenderFailure) -> str:
        prompt, chain = self._chain(script_id)
        messages = repair_messages(prompt, code, failure, _version(), self.latex)
        earlier = fixmemory.recall(self.ctx, failure)
        if earlier is not None:
            messages = with_earlier_fix(messages, earlier.error, earlier.diff)
        try:
            answer, new_code, _scenes = _ask_for_script(self.ctx, chain, messages)
        except InvalidScript as exc:
            raise ProviderError(exc.message, kind="reply") from exc
        _add_usage(self.ctx, script_id, answer)
        return new_code

    def succeeded(self, script_id: str, failure: RenderFailure, before: str, after: str) -> None:
        fixmemory.remember(self.ctx, failure, before, after)


def _add_usage(ctx: Context, script_id: str, answer: llm.Answer) -> None:
    with ctx.session() as session:
        script = session.get(Script, script_id)
        script.prompt_tokens += answer.completion.prompt_tokens
        script.completion_tokens += answer.completion.completion_tokens
        script.total_tokens += answer.completion.total_tokens
        script.provider_attempts = [*script.provider_attempts, *answer.attempts]
        script.provider = script.provider or answer.config.name
        script.model = script.model or answer.completion.model
        script.updated_at = utcnow()
        session.add(script)
        session.commit()
