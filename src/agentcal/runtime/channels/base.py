"""Request dependencies of the runtime's endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from agentcal.runtime.catalog import CatalogMemo


async def _catalogs(request: Request) -> CatalogMemo:  # async: no thread-pool hop
    memo: CatalogMemo = request.app.state.catalogs
    return memo


Catalogs = Annotated[CatalogMemo, Depends(_catalogs)]
