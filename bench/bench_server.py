"""The server `management_api.py` measures: agentcal, plus a bare FastAPI app at `/hello`.

Both run in the same uvicorn process; a two-line ASGI dispatcher sends `/hello` to the
bare app before agentcal's middleware, so "hello" is the cost of FastAPI alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from agentcal.app import create_app


def create() -> Any:
    bare = FastAPI()

    @bare.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    agentcal = create_app()

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        target = bare if scope.get("path") == "/hello" else agentcal
        await target(scope, receive, send)

    return dispatch
