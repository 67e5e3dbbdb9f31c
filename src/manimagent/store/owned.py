"""Ownership as one query helper: a user sees the rows they own; the local CLI (no user) sees all."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select

Query = TypeVar("Query", bound=Select[Any])  # sqlmodel's selects are SQLAlchemy's


class Caller(Protocol):
    """Who asks (a `manimagent.context.Context`): a user's id, or None for the local CLI."""

    @property
    def user_id(self) -> int | None: ...


def owned(query: Query, ctx: Caller, model: Any) -> Query:
    """`query` limited to the rows of `model` that the caller owns (every row for the local CLI)."""
    if ctx.user_id is None:
        return query
    return query.where(model.owner_id == ctx.user_id)
