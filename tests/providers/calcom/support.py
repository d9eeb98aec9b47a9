"""Helpers of the Cal.com tests: a bot with the demo user's integration (or a user of its
own), its calls, and a count of the requests the Cal.com sandbox received."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant, calcom_body


async def link_calcom(
    tenant: Tenant, api_key: str, username: str, **fields: Any
) -> tuple[str, str, dict[str, Any]]:
    """A new bot with a Cal.com integration "Dr Ana" of `username` linked to it:
    (bot id, integration id, the integration's create body)."""
    bot = await tenant.api.post(
        "/api/v1/bots", json={"name": "Reception", "unitId": tenant.unit_id}
    )
    assert bot.status_code == 201, bot.text
    body = calcom_body(
        tenant.unit_id,
        title="Dr Ana",
        apiKey=api_key,
        calcomUsername=username,
        botId=bot.json()["id"],
        **fields,
    )
    created = await tenant.api.post("/api/v1/calcom/integration", json=body)
    assert created.status_code == 201, created.text
    return bot.json()["id"], created.json()["id"], body


async def tool_names(tenant: Tenant, bot_id: str) -> dict[str, str]:
    """The bot's "Dr Ana" tool names, by action."""
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    return {
        t["function"]["name"].split("_dr_ana")[0]: t["function"]["name"]
        for t in tools.json()["tools"]
    }


async def bot_with_calcom(tenant: Tenant, **overrides: Any) -> tuple[str, str, dict[str, str]]:
    """A bot with the demo user's Cal.com integration "Dr Ana": (bot id, integration id,
    the tool names by action)."""
    fields = {"defaultEventTypeSlug": "30min", **overrides}
    bot_id, integration_id, _ = await link_calcom(tenant, DEMO_API_KEY, DEMO_USERNAME, **fields)
    return bot_id, integration_id, await tool_names(tenant, bot_id)


async def call_tools(tenant: Tenant, bot_id: str, *calls: dict[str, Any]) -> dict[str, Any]:
    """`POST …/tool-calls` with these calls; the answer's body."""
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": list(calls)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def calcom_user(
    sandbox: SandboxServer,
    event_types: list[tuple[str, int]],
    *,
    requires_confirmation: bool = False,
) -> dict[str, Any]:
    """A Cal.com user of its own with these (slug, minutes) event types, made through the
    sandbox's admin API: {"apiKey", "username", "eventTypes": [{"id", "slug", …}]}.
    (Its own user, so no other test's event types cached by agentcal are reused.) With
    `requires_confirmation`, every booking of them waits for the host ("pending")."""
    username = f"dr-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.post(
            "/sandbox/calcom/users",
            json={
                "username": username,
                "timeZone": "America/Sao_Paulo",
                "eventTypes": [
                    {"slug": s, "lengthInMinutes": m, "requiresConfirmation": requires_confirmation}
                    for s, m in event_types
                ],
            },
        )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def bot_with_calcom_user(
    tenant: Tenant, user: dict[str, Any], **overrides: Any
) -> tuple[str, str, dict[str, str]]:
    """Like `bot_with_calcom`, for `user` (from `calcom_user`), with no default event
    type unless `overrides` give one."""
    bot_id, integration_id, _ = await link_calcom(
        tenant, user["apiKey"], user["username"], **overrides
    )
    return bot_id, integration_id, await tool_names(tenant, bot_id)


def count_requests(sandbox: SandboxServer, method: str, path_prefix: str) -> Callable[[], int]:
    """From now on, count the sandbox's requests of `method` under `path_prefix`: the
    count is read by calling the function returned.

    A fault rule with no fault in it (no status, no latency) lets every request through,
    and counts down its `times` for each one it matched."""
    many = 1_000_000
    probe = Fault(path_prefix=path_prefix, methods=frozenset({method}), times=many)
    sandbox.state.faults.rules.append(probe)
    return lambda: many - probe.times
