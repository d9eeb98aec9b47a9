"""The server the benchmarks measure: agentcal, plus bare FastAPI baselines beside it.

All run in the same uvicorn process; a small ASGI dispatcher sends `/bare/...` to the
bare app before agentcal's middleware, so a bare route is the cost of FastAPI alone:
* `GET /bare/hello` (`management_api.py`): `{"hello": "world"}`;
* `POST /bare/slots` (`tool_calls.py`): the least any FastAPI + httpx service must do
  for a tool call: read a JSON body, forward one request to the Cal.com sandbox's
  `/v2/slots` (after `/v2/event-types` when given a `username`) with a shared
  `httpx.AsyncClient`, answer its JSON. No auth, no database.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi import FastAPI

from agentcal.app import create_app


def create() -> Any:
    bare = FastAPI()
    calcom = os.environ.get("AGENTCAL_CALCOM_API_URL", "https://api.cal.com")
    client = httpx.AsyncClient(base_url=calcom)

    @bare.get("/bare/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @bare.post("/bare/slots")
    async def slots(body: dict[str, str]) -> Any:
        if body.get("username"):  # as agentcal without its caches: the event types first
            types = await client.get(
                "/v2/event-types",
                params={"username": body["username"]},
                headers={
                    "Authorization": f"Bearer {body['apiKey']}",
                    "cal-api-version": "2024-06-14",
                },
            )
            types.raise_for_status()
        response = await client.get(
            "/v2/slots",
            params={key: body[key] for key in ("start", "end", "timeZone", "eventTypeId")}
            | {"format": "range"},
            headers={"Authorization": f"Bearer {body['apiKey']}", "cal-api-version": "2024-09-04"},
        )
        return response.json()

    agentcal = create_app()

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        target = bare if str(scope.get("path", "")).startswith("/bare/") else agentcal
        await target(scope, receive, send)

    return dispatch
