"""Helpers of the Cal.com tests: a bot with the demo user's integration, and its calls."""

from __future__ import annotations

from typing import Any

from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from tests.factories import Tenant, calcom_body


async def bot_with_calcom(tenant: Tenant, **overrides: Any) -> tuple[str, str, dict[str, str]]:
    """A bot with the demo user's Cal.com integration "Dr Ana": (bot id, integration id,
    the tool names by action)."""
    bot = await tenant.api.post(
        "/api/v1/bots", json={"name": "Reception", "unitId": tenant.unit_id}
    )
    body = calcom_body(
        tenant.unit_id, title="Dr Ana", apiKey=DEMO_API_KEY, calcomUsername=DEMO_USERNAME,
        botId=bot.json()["id"], defaultEventTypeSlug="30min", **overrides,
    )  # fmt: skip
    created = await tenant.api.post("/api/v1/calcom/integration", json=body)
    assert created.status_code == 201, created.text
    tools = await tenant.api.get(f"/api/v1/bots/{bot.json()['id']}/tools")
    names = {t["function"]["name"].split("_dr_ana")[0]: t["function"]["name"]
             for t in tools.json()["tools"]}  # fmt: skip
    return bot.json()["id"], created.json()["id"], names


async def call_tools(tenant: Tenant, bot_id: str, *calls: dict[str, Any]) -> dict[str, Any]:
    """`POST …/tool-calls` with these calls; the answer's body."""
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": list(calls)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
