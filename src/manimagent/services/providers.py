"""Configured LLM providers: list, add, update, remove, test, set-key. Keys never touch the database."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from manimagent.context import Context
from manimagent.errors import BadInput, Conflict, Forbidden, ProviderError
from manimagent.keys import SecretStorage, delete_key, store_key
from manimagent.providers import PROVIDER_TYPES
from manimagent.providers.base import Message
from manimagent.schemas import ProviderPublic, ProviderTestResult
from manimagent.services import llm
from manimagent.services.ids import resolve_named
from manimagent.store.models import Provider, utcnow

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
EDITABLE = (
    "provider_type",
    "model_name",
    "base_url",
    "priority",
    "is_active",
    "api_key_env",
    "deployment",
    "api_version",
)


def provider_public(ctx: Context, row: Provider) -> ProviderPublic:
    return ProviderPublic.model_validate(
        {**row.model_dump(), "key_source": llm.key_source(llm.config_from_row(ctx, row))}
    )


def list_providers(ctx: Context) -> list[ProviderPublic]:
    with ctx.session() as session:
        rows = session.exec(select(Provider).order_by(col(Provider.priority), col(Provider.id))).all()
    return [provider_public(ctx, row) for row in rows]


def get_provider(ctx: Context, *, ref: str) -> ProviderPublic:
    with ctx.session() as session:
        return provider_public(ctx, resolve_named(session, Provider, ref, "provider"))


def _require_admin(ctx: Context) -> None:
    if not ctx.is_admin:
        raise Forbidden("only administrators change providers")


def _validate(fields: dict[str, Any]) -> dict[str, Any]:
    if "provider_type" in fields and fields["provider_type"] not in PROVIDER_TYPES:
        raise BadInput(
            f"unknown provider type {fields['provider_type']!r}",
            hint=f"Use one of: {', '.join(PROVIDER_TYPES)}",
        )
    if fields.get("base_url") and not re.match(r"^https?://[^\s/]+", fields["base_url"]):
        raise BadInput(f"--base-url {fields['base_url']!r} is not an http(s) URL")
    if fields.get("api_key_env") and not ENV_PATTERN.match(fields["api_key_env"]):
        raise BadInput(f"--api-key-env {fields['api_key_env']!r} is not an environment variable name")
    if "priority" in fields and fields["priority"] is not None and not -1000 <= fields["priority"] <= 1000:
        raise BadInput("--priority must be between -1000 and 1000")
    return fields


def add_provider(
    ctx: Context, *, name: str, provider_type: str, key: str | None = None, **fields: Any
) -> ProviderPublic:
    _require_admin(ctx)
    if not NAME_PATTERN.match(name or ""):
        raise BadInput(
            f"invalid provider name {name!r}", hint="Use letters, digits, dot, dash or underscore (up to 64)"
        )
    values = _validate({"provider_type": provider_type, **{k: v for k, v in fields.items() if v is not None}})
    row = Provider(name=name, **values)
    with ctx.session() as session:
        if session.exec(select(Provider).where(Provider.name == name)).first():
            raise Conflict(
                f"a provider named {name!r} exists", hint="Pick another name or use `providers update`"
            )
        session.add(row)
        try:
            session.commit()
        except IntegrityError as exc:
            raise Conflict(f"a provider named {name!r} exists") from exc
    if key:
        set_key(ctx, ref=name, key=key)
    return get_provider(ctx, ref=name)


def update_provider(ctx: Context, *, ref: str, key: str | None = None, **fields: Any) -> ProviderPublic:
    _require_admin(ctx)
    changes = _validate({k: v for k, v in fields.items() if k in EDITABLE and v is not None})
    with ctx.session() as session:
        row = resolve_named(session, Provider, ref, "provider")
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.add(row)
        session.commit()
        name = row.name
    if key:
        set_key(ctx, ref=name, key=key)
    return get_provider(ctx, ref=name)


def remove_provider(ctx: Context, *, ref: str) -> str:
    _require_admin(ctx)
    with ctx.session() as session:
        row = resolve_named(session, Provider, ref, "provider")
        session.delete(row)
        session.commit()
    delete_key(row.name)
    return row.name


def set_key(ctx: Context, *, ref: str, key: str) -> SecretStorage:
    """Keep the key in the OS keyring (service `manimagent`, user = provider name), or without
    one in the 0600 secrets file; says where it went."""
    _require_admin(ctx)
    key = (key or "").strip()
    if not key:
        raise BadInput("the key is empty")
    if any(ch.isspace() for ch in key) or len(key) > 4096:
        raise BadInput("that does not look like an API key (whitespace inside or too long)")
    with ctx.session() as session:
        row = resolve_named(session, Provider, ref, "provider")
    return store_key(row.name, key)


def test_provider(ctx: Context, *, ref: str) -> ProviderTestResult:
    """One tiny request; reports the model and the latency."""
    with ctx.session() as session:
        row = resolve_named(session, Provider, ref, "provider")
    config = llm.config_from_row(ctx, row)
    provider = llm.instantiate(config)
    started = time.monotonic()
    try:
        completion = provider.complete([Message("user", "Reply with the single word: ok")])
    except ProviderError as exc:
        return ProviderTestResult(
            success=False, provider=row.name, model=provider.model, error=f"{exc.kind}: {exc.message}"
        )
    latency = (time.monotonic() - started) * 1000
    return ProviderTestResult(
        success=True,
        provider=row.name,
        model=completion.model or provider.model,
        latency_ms=round(latency, 1),
        reply=completion.text.strip()[:200],
    )
