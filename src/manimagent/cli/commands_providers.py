"""`manimagent providers ...`: configured LLM endpoints. Keys go to the keyring (or, without one,
the 0600 secrets file), never argv or the db.

With --server only `list` works: a server's providers are changed on its machine."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from manimagent.cli.backend import backend_for, machine_backend
from manimagent.cli.options import JsonOption, ServerOption
from manimagent.cli.output import output

app = typer.Typer(
    help="Configured LLM providers: list, add, update, remove, test, set-key.", no_args_is_help=True
)
NameArgument = Annotated[str, typer.Argument(help="Provider name (or numeric id).")]
TypeOption = Annotated[
    str | None, typer.Option("--type", "-t", help="openai | azure_openai | gemini | anthropic | offline")
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name (default: the vendor's default).")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Endpoint; with --type openai any OpenAI-compatible server (Ollama, vLLM, LM Studio).",
    ),
]
PriorityOption = Annotated[int | None, typer.Option("--priority", help="Lower is tried first (default 100).")]
KeyEnvOption = Annotated[
    str | None,
    typer.Option("--api-key-env", help="Env var holding the key (looked up after the keyring)."),
]
KeyStdinOption = Annotated[
    bool, typer.Option("--key-stdin", help="Read the API key from stdin and keep it in the keyring.")
]
DeploymentOption = Annotated[str | None, typer.Option("--deployment", help="Azure OpenAI deployment name.")]
ApiVersionOption = Annotated[str | None, typer.Option("--api-version", help="Azure OpenAI API version.")]
ActiveOption = Annotated[
    bool | None, typer.Option("--active/--inactive", help="Whether automatic selection uses it.")
]


def _read_key_from_stdin() -> str:
    from manimagent.errors import BadInput

    try:
        return sys.stdin.readline().strip()
    except UnicodeDecodeError as exc:
        raise BadInput("the key on stdin is not text") from exc


@app.command("list")
def list_(server: ServerOption = None, json_: JsonOption = False) -> None:
    """Providers in the order automatic selection tries them. Shows where each key comes from, never the
    key."""
    rows = backend_for(server).providers.list_providers()
    if json_:
        return output.json(rows)
    output.table(
        ["id", "name", "type", "model", "base url", "priority", "active", "key"],
        [
            (
                r.id,
                r.name,
                r.provider_type,
                r.model_name or "(default)",
                r.base_url or "",
                r.priority,
                "yes" if r.is_active else "no",
                r.key_source,
            )
            for r in rows
        ],
    )


@app.command("add")
def add(
    name: NameArgument,
    provider_type: Annotated[
        str, typer.Option("--type", "-t", help="openai | azure_openai | gemini | anthropic | offline")
    ],
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    priority: PriorityOption = None,
    api_key_env: KeyEnvOption = None,
    key_stdin: KeyStdinOption = False,
    deployment: DeploymentOption = None,
    api_version: ApiVersionOption = None,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Configure a provider."""
    providers = machine_backend(server, "add_provider").providers  # with --server: fails before reading a key
    key = _read_key_from_stdin() if key_stdin else None
    row = providers.add_provider(
        name=name,
        provider_type=provider_type,
        key=key,
        model_name=model,
        base_url=base_url,
        priority=priority,
        api_key_env=api_key_env,
        deployment=deployment,
        api_version=api_version,
    )
    _print_row(row, json_, "Added")


@app.command("update")
def update(
    name: NameArgument,
    provider_type: TypeOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    priority: PriorityOption = None,
    api_key_env: KeyEnvOption = None,
    key_stdin: KeyStdinOption = False,
    deployment: DeploymentOption = None,
    api_version: ApiVersionOption = None,
    active: ActiveOption = None,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Change a provider's settings."""
    providers = machine_backend(
        server, "update_provider"
    ).providers  # with --server: fails before reading a key
    key = _read_key_from_stdin() if key_stdin else None
    row = providers.update_provider(
        ref=name,
        key=key,
        provider_type=provider_type,
        model_name=model,
        base_url=base_url,
        priority=priority,
        api_key_env=api_key_env,
        deployment=deployment,
        api_version=api_version,
        is_active=active,
    )
    _print_row(row, json_, "Updated")


@app.command("remove")
def remove(name: NameArgument, server: ServerOption = None) -> None:
    """Remove a provider (and its key from the keyring)."""
    providers = machine_backend(server, "remove_provider").providers
    output.info(f"Removed provider {providers.remove_provider(ref=name)}")


@app.command("test")
def test(name: NameArgument, server: ServerOption = None, json_: JsonOption = False) -> None:
    """Send one tiny request; report the model and latency."""
    from manimagent.errors import ExitCode

    result = machine_backend(server, "test_provider").providers.test_provider(ref=name)
    if json_:
        output.json(result)
    elif result.success:
        output.line(f"{result.provider}: ok, model {result.model}, {result.latency_ms:.0f} ms")
    else:
        output.error(f"{result.provider} failed: {result.error}")
    if not result.success:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command("set-key")
def set_key_(
    name: NameArgument,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the key from stdin instead of a hidden prompt.")
    ] = False,
    server: ServerOption = None,
) -> None:
    """Store the provider's API key in the OS keyring, or without one in a 0600 file (never on the command
    line)."""
    from manimagent.keys import secret_storage

    providers = machine_backend(server, "set_key").providers  # with --server: fails before asking for the key
    providers.get_provider(ref=name)  # an unknown name, and
    secret_storage()  # nowhere to keep a key, fail before the key is asked for
    key = (
        _read_key_from_stdin()
        if stdin or not sys.stdin.isatty()
        else typer.prompt("API key", hide_input=True, err=True)
    )
    storage = providers.set_key(ref=name, key=key)
    if storage.notice:
        output.notice(storage.notice)
    output.info(f"Key stored in {storage.where} for {name}")


def _print_row(row, json_: bool, verb: str) -> None:
    if json_:
        return output.json(row)
    if row.key_source == "file":
        from manimagent.keys import SecretStorage, secrets_file

        output.notice(SecretStorage("file", str(secrets_file())).notice or "")
    output.info(f"{verb} provider {row.name} ({row.provider_type}, key: {row.key_source})")
