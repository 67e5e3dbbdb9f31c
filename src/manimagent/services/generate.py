"""Prompt to script (and to video): generation and refinement. The LLM repair of the render loop
is services/repair.py; asking the LLM for a script is services/writing.py."""

from __future__ import annotations

from typing import Any

from manimagent.attempt import RenderOptions, has_latex
from manimagent.context import Context
from manimagent.errors import AllProvidersFailed, BadInput, InvalidScript, ManimagentError, ProviderError
from manimagent.pipeline import run_attempts
from manimagent.prompts import MAX_PROMPT_CHARS, generation_messages, refine_messages
from manimagent.providers.base import Message
from manimagent.schemas import GenerateResult, ScriptGenerateResult, generate_result
from manimagent.services import llm
from manimagent.services.ids import resolve_uuid
from manimagent.services.render import deliver, render_options
from manimagent.services.repair import NO_LLM_REPAIR, LlmRepairer, repairer_for
from manimagent.services.writing import ask_for_script, prompt_version
from manimagent.store.models import Script, ScriptStatus

__all__ = [
    "NO_LLM_REPAIR",
    "LlmRepairer",
    "clean_prompt",
    "generate",
    "generate_script",
    "refine_script",
    "repairer_for",
]


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


def _has_latex(ctx: Context, options: RenderOptions | None, engine: Any, container: Any) -> bool:
    """Whether the renderer has LaTeX, for the prompt: the engine of the render when there is one
    (chosen once per generate), else the one a render would use."""
    if options is not None:
        return has_latex(options.engine)
    from manimagent.services.engines import select_engine

    try:
        return has_latex(select_engine(ctx, _text(engine), _text(container)))
    except ManimagentError:
        return True


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


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
    attempts: list[dict[str, Any]] | None = None,
) -> Script:
    """The new Script, `pending` (or `failed` with `error` when no usable script came)."""
    completion = answer.completion if answer else None
    script = Script(
        owner_id=ctx.user_id,
        prompt=prompt,
        content=code,
        scenes=scenes,
        scene_class=scenes[0] if scenes else None,
        source=source,
        provider=answer.config.name if answer else None,
        model=(completion.model or None) if completion else None,
        parent_id=parent_id,
        prompt_tokens=completion.prompt_tokens if completion else 0,
        completion_tokens=completion.completion_tokens if completion else 0,
        total_tokens=completion.total_tokens if completion else 0,
        provider_attempts=attempts if attempts is not None else (answer.attempts if answer else []),
    )
    if error:
        script.set_status(ScriptStatus.FAILED, error)
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
        answer, code, scenes = ask_for_script(ctx, chain, messages)
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
    partial: bool = False,
) -> ScriptGenerateResult:
    """`scripts generate`: a new Script from a prompt, rendered too when `auto_execute`.
    `voiceover`: ask for a narrated VoiceoverScene (services/voiceover.py speaks it); `partial`:
    join the scenes that rendered even when others failed."""
    text = clean_prompt(prompt)
    if voiceover:
        from manimagent.services.voiceover import check_voiceover_request

        check_voiceover_request(ctx, format)
    options = (
        _execute_options(ctx, engine, container, quality, format, max_attempts, still_seconds, cache, partial)
        if auto_execute
        else None
    )
    latex = _has_latex(ctx, options, engine, container)
    messages = generation_messages(text, prompt_version(), latex, voiceover=voiceover)
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
    **render: Any,
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
        prompt_version(),
        _has_latex(ctx, options, render.get("engine"), render.get("container")),
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
    engine: str | None = None,
    container: str | None = None,
    quality: str | None = None,
    format: str | None = None,
    max_attempts: int | None = None,
    still_seconds: float | None = None,
    cache: bool | None = None,
    partial: bool = False,
) -> RenderOptions:
    return render_options(
        ctx,
        engine=engine,
        container=container,
        quality=quality,
        format=format,
        max_attempts=max_attempts,
        still_seconds=still_seconds,
        default_attempts=ctx.settings.max_attempts,
        cache=cache,
        partial=partial,
    )


def _after_write(
    ctx: Context, script: Script, provider: str | None, options: RenderOptions | None, message: str
) -> ScriptGenerateResult:
    execution = None
    if options is not None:
        execution = run_attempts(
            ctx, script, options, repairer_for(ctx, options, provider or script.provider)
        )
    return ScriptGenerateResult(
        success=execution.success if execution else True,
        script_id=script.id,
        message=message if execution is None or execution.success else f"{message} Rendering failed.",
        provider=script.provider,
        model=script.model,
        status=execution.status if execution else script.status,
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
    **render: Any,
) -> GenerateResult:
    """`generate`: prompt -> script -> video, repairing up to max_attempts."""
    result = generate_script(
        ctx, prompt=prompt, provider=provider, model=model, auto_execute=execute, **render
    )
    return generate_result(result, deliver(result.execution, output) if result.execution else None)
