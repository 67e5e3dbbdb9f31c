"""`manimagent generate PROMPT`, `scripts generate` and `scripts refine`: from words to scripts and videos
(locally or with --server)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from manimagent.cli.backend import backend_for
from manimagent.cli.commands_batch import (
    FromOption,
    JobsOption,
    JsonlOption,
    generate_batch,
    refuse_for_batch,
)
from manimagent.cli.look import (
    OpenOption,
    PreviewOption,
    open_video,
    print_preview,
    refuse_in_batch,
    with_preview,
)
from manimagent.cli.options import (
    ContainerOption,
    EngineOption,
    FormatOption,
    JsonOption,
    MaxAttemptsOption,
    NoCacheOption,
    OutputPathOption,
    PartialOption,
    QualityOption,
    ServerOption,
    StillSecondsOption,
    render_choices,
)
from manimagent.cli.output import output
from manimagent.cli.results import print_execute_result

if TYPE_CHECKING:
    from manimagent.backends.protocols import Generate
    from manimagent.schemas import ScriptGenerateResult

PromptArgument = Annotated[
    str, typer.Argument(help='What to animate, e.g. "Animate a circle"; "-" reads it from stdin.')
]
ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        "-p",
        help=(
            "Provider name or type (default: configured ones by priority, then vendor env vars, then "
            "offline)."
        ),
    ),
]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Model name for this request.")]
VoiceoverOption = Annotated[
    bool,
    typer.Option(
        "--voiceover",
        help=(
            "Ask for a narrated VoiceoverScene; who speaks is config voiceover.engine (default offline: "
            "espeak-ng)."
        ),
    ),
]


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    from manimagent.cli.commands_scripts import app as scripts

    scripts.command("generate")(scripts_generate)
    scripts.command("refine")(scripts_refine)


def read_prompt(prompt: str) -> str:
    """PROMPT itself, or stdin for "-" (UTF-8 required)."""
    if prompt != "-":
        return prompt
    from manimagent.errors import BadInput

    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"the prompt on stdin is not UTF-8 text (byte {exc.start})") from exc


def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(
            help='What to animate, e.g. "Animate a circle"; "-" reads it from stdin. Or --from FILE for many.'
        ),
    ] = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    no_execute: Annotated[
        bool, typer.Option("--no-execute", help="Only write and store the script.")
    ] = False,
    engine: EngineOption = None,
    container: ContainerOption = None,
    quality: QualityOption = None,
    format: FormatOption = None,
    still_seconds: StillSecondsOption = None,
    max_attempts: MaxAttemptsOption = None,
    no_cache: NoCacheOption = False,
    partial: PartialOption = False,
    output_path: OutputPathOption = None,
    open_: OpenOption = False,
    preview: PreviewOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
    from_: FromOption = None,
    jobs: JobsOption = None,
    jsonl: JsonlOption = False,
    voiceover: VoiceoverOption = False,
) -> None:
    """Turn PROMPT into a Manim script, render it, and repair it when it fails. With --server, -o downloads
    the video.

    --from FILE: every prompt of FILE, --jobs at a time; --json prints one array, --jsonl a line per item."""
    from manimagent.cli.progress import drawing_events
    from manimagent.errors import BadInput, ExitCode

    choices = render_choices(
        engine=engine,
        container=container,
        quality=quality,
        format=format,
        max_attempts=max_attempts,
        still_seconds=still_seconds,
        no_cache=no_cache,
        partial=partial,
    )
    if voiceover:
        _refuse_voiceover(server, "Generate narrated videos locally")
    if from_ is not None:
        if prompt is not None:
            raise BadInput("give a PROMPT or --from FILE, not both")
        refuse_for_batch(json_=json_, jsonl=jsonl, server=server, output_path=output_path)
        refuse_in_batch(open_=open_, preview=preview)
        narrated = {"voiceover": True} if voiceover else {}
        options = {"provider": provider, "model": model, **choices, **narrated}
        return generate_batch(
            from_, jobs=jobs, json_=json_, jsonl=jsonl, execute=not no_execute, options=options
        )
    if jsonl:
        raise BadInput("--jsonl goes with --from FILE", hint="One prompt prints one document with --json")
    if prompt is None:
        raise BadInput(
            "no prompt given",
            hint='Describe the animation, e.g. manimagent generate "Animate a circle", or give --from FILE',
        )
    with drawing_events(json_=json_) as events:
        result = backend_for(server, events).generate.generate(
            prompt=read_prompt(prompt),
            provider=provider,
            model=model,
            execute=not no_execute,
            output=output_path,
            voiceover=voiceover,
            **choices,
        )
    result = with_preview(result, preview)
    if json_:
        output.json(result)
    elif result.success:
        output.line(result.output_path or result.script_id or "")
    if not result.success:
        output.error(f"no attempt succeeded ({result.attempts} tried): {result.error}")
        raise typer.Exit(int(ExitCode.FAILED))
    print_preview(result, json_=json_)
    open_video(result, open_)


def _refuse_voiceover(server: str | None, hint: str) -> None:
    """--voiceover with --server (or MANIMAGENT_SERVER): bad input, before anything is generated."""
    from manimagent.errors import BadInput
    from manimagent.settings import resolve_server

    if server or resolve_server(None) is not None:
        raise BadInput("--voiceover is not available with --server yet", hint=hint)


def scripts_generate(
    prompt: PromptArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    auto_execute: Annotated[
        bool, typer.Option("--auto-execute", help="Render it right away (with repairs).")
    ] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
    voiceover: VoiceoverOption = False,
) -> None:
    """Write a script for PROMPT and store it (render it with --auto-execute)."""
    if voiceover:
        _refuse_voiceover(server, "Generate narrated scripts locally")
    _print_generated(
        server,
        lambda generate: generate.generate_script(
            prompt=read_prompt(prompt),
            provider=provider,
            model=model,
            auto_execute=auto_execute,
            voiceover=voiceover,
        ),
        json_,
    )


def scripts_refine(
    ref: Annotated[str, typer.Argument(help="Script id to refine.")],
    instruction: Annotated[str, typer.Argument(help='What to change, e.g. "make it red"; "-" reads stdin.')],
    provider: ProviderOption = None,
    model: ModelOption = None,
    auto_execute: Annotated[
        bool, typer.Option("--auto-execute", help="Render the new script right away.")
    ] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """A new script from an old one and an instruction (its parent is the old one)."""
    _print_generated(
        server,
        lambda generate: generate.refine_script(
            ref=ref,
            instruction=read_prompt(instruction),
            provider=provider,
            model=model,
            auto_execute=auto_execute,
        ),
        json_,
    )


def _print_generated(
    server: str | None, run: Callable[[Generate], ScriptGenerateResult], json_: bool
) -> None:
    from manimagent.cli.progress import drawing_events

    with drawing_events(json_=json_) as events:
        result = run(backend_for(server, events).generate)
    if json_:
        output.json(result)
    else:
        output.line(result.script_id or "")
    if result.execution is not None and not json_:
        print_execute_result(result.execution, json_=False)
    elif result.execution is not None and not result.execution.success:
        output.error(f"the script was stored but no render attempt succeeded: {result.execution.error}")
        raise typer.Exit(1)
