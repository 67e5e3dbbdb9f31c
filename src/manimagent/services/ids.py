"""Finding rows by id: UUIDs or unique prefixes of at least 4 characters; names or numeric ids."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, SQLModel, col, select

from manimagent.context import Context
from manimagent.errors import AmbiguousId, BadInput, NotFound
from manimagent.store.owned import owned

MIN_PREFIX = 4
Row = TypeVar("Row", bound=SQLModel)


def resolve_uuid(session: Session, ctx: Context, model: type[Row], ref: str, label: str) -> Row:
    """The one row of `model` owned by the caller whose id is `ref` or starts with it."""
    ref = ref.strip().lower()
    if len(ref) < MIN_PREFIX:
        raise BadInput(
            f"{label} id {ref!r} is too short", hint=f"Give at least {MIN_PREFIX} characters of the id"
        )
    if not all(ch in "0123456789abcdef-" for ch in ref):
        raise NotFound(f"no {label} with id {ref!r}", hint=f"List them with `manimagent {label}s list`")
    query = owned(select(model).where(col(model.id).startswith(ref)).limit(3), ctx, model)  # type: ignore[attr-defined]
    rows: list[Row] = list(session.exec(query).all())
    if not rows:
        raise NotFound(f"no {label} with id {ref!r}", hint=f"List them with `manimagent {label}s list`")
    if len(rows) > 1:
        raise AmbiguousId(
            f"{label} id {ref!r} matches several {label}s", hint="Give more characters of the id"
        )
    return rows[0]


def resolve_named(session: Session, model: type[Row], ref: str | int, label: str) -> Row:
    """A provider or container by name, or by numeric id."""
    text = str(ref).strip()
    row = session.exec(select(model).where(model.name == text)).first()  # type: ignore[attr-defined]
    if row is None and text.isdigit():
        row = session.get(model, int(text))
    if row is None:
        raise NotFound(f"no {label} named {text!r}", hint=f"List them with `manimagent {label}s list`")
    return row
