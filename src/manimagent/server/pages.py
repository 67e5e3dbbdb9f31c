"""Pages of lists: `limit` (default 50, at most 500) and `offset` query parameters, the plain-list
body clients expect, and a `Link: <...>; rel="next"` header while more rows may follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import TypeAdapter

from manimagent.services.executions import DEFAULT_PAGE, MAX_PAGE

T = TypeVar("T")
Rows = TypeVar("Rows", bound=Sequence[Any])

MAX_OFFSET = 2**62  # SQLite's integers are 64-bit: a larger offset is a 422, not a 500


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_PAGE,
            description=f"At most this many rows (default {DEFAULT_PAGE}, at most {MAX_PAGE})",
        ),
    ] = DEFAULT_PAGE,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description="Skip this many rows first (see the `Link` header for the next page)",
        ),
    ] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page_params)]


def paged(request: Request, response: Response, page: Page, rows: Rows) -> Rows:
    """`rows` as they are, with a `Link` to the next page when this one is full."""
    if len(rows) >= page.limit:
        following = request.url.include_query_params(limit=page.limit, offset=page.offset + page.limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return rows


def sliced(request: Request, response: Response, page: Page, rows: Sequence[T]) -> list[T]:
    """One page of a short list the service returns whole (providers, containers, the waiting list)."""
    return paged(request, response, page, list(rows[page.offset : page.offset + page.limit]))


def page_response(request: Request, page: Page, rows: Sequence[Any], adapter: TypeAdapter) -> Response:
    """The page as JSON, serialized once by `adapter` (FastAPI would validate the rows again on the
    way out: for a list, that is most of the request), with the `Link` header."""
    response = Response(content=adapter.dump_json(list(rows)), media_type="application/json")
    paged(request, response, page, rows)
    return response
