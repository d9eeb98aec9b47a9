"""`?page=&limit=` for list endpoints, with a `Link: rel="next"` header when there is more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Response

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than a page, to know whether another page exists."""
        return self.limit + 1

    def trim(self, rows: list[T], request: Request, response: Response) -> list[T]:
        """Cut `rows` to the page, and point to the next page when there is one."""
        if len(rows) > self.limit:
            url = request.url.include_query_params(page=self.page + 1, limit=self.limit)
            response.headers["Link"] = f'<{url}>; rel="next"'
        return rows[: self.limit]


async def _page(  # async: a plain def would run in FastAPI's thread pool
    page: int = Query(default=1, ge=1, le=100_000, description="1-based page number"),
    limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page"),
) -> Page:
    return Page(page, limit)


PageParams = Annotated[Page, Depends(_page)]
