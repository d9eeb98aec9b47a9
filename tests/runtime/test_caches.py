"""The caches on the tool-call path (`agentcal.db.caches`) in use: they save requests and
queries, and this process's own changes still apply at once."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from agentcal.sandbox.faults import Fault
from agentcal.tenancy.tokens import hash_token
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.runtime.support import CHECK, bot_with_own_calcom_user
from tests.support import next_monday, notifications_drained

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
EVENT_TYPES = "/calcom/v2/event-types"


@pytest.fixture(autouse=True)
def _caching_is_on(app: FastAPI) -> None:
    assert app.state.settings.cache_seconds > 0  # the default, 5 s


class RequestCounter:
    """Counts the sandbox's requests under a path: a pass-through fault rule (no latency,
    no status) that the sandbox counts down on every request it matches."""

    START = 1_000_000

    def __init__(self, sandbox: SandboxServer, path: str, method: str = "GET") -> None:
        self.rule = Fault(path_prefix=path, methods=frozenset({method}), times=self.START)
        sandbox.state.faults.rules.append(self.rule)  # removed by the suite after the test

    @property
    def count(self) -> int:
        return self.START - self.rule.times


async def _check_availability(tenant: Tenant, bot_id: str) -> httpx.Response:
    return await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={
            "toolCalls": [
                {
                    "id": f"c-{uuid.uuid4().hex[:6]}",
                    "name": CHECK,
                    "arguments": {"startDate": next_monday().isoformat()},
                }
            ]
        },
    )


async def _result(tenant: Tenant, bot_id: str) -> dict[str, Any]:
    response = await _check_availability(tenant, bot_id)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


def _catalog_cached(app: FastAPI, tenant: Tenant, bot_id: str) -> bool:
    key = ("bot", uuid.UUID(tenant.institution_id), uuid.UUID(bot_id))
    return app.state.catalogs.get(key) is not None


async def test_two_availability_checks_fetch_the_event_types_once(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    bot_id, _, _ = await bot_with_own_calcom_user(tenant, sandbox)
    await notifications_drained(app.state.sessionmaker)  # the set-up empties nothing later
    event_types = RequestCounter(sandbox, EVENT_TYPES)
    first = await _result(tenant, bot_id)
    second = await _result(tenant, bot_id)
    assert first["ok"] is True, first
    assert second["ok"] is True, second
    assert second["data"]["slots"] == first["data"]["slots"]
    assert event_types.count == 1
    # The control: without the cached copy the next check asks Cal.com again.
    app.state.runtime.providers["calcom"].event_types.invalidate()
    assert (await _result(tenant, bot_id))["ok"] is True
    assert event_types.count == 2


async def test_switching_a_tool_off_applies_to_the_very_next_call(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    bot_id, integration_id, body = await bot_with_own_calcom_user(tenant, sandbox)
    await notifications_drained(app.state.sessionmaker)  # the set-up empties nothing later
    assert (await _result(tenant, bot_id))["ok"] is True
    assert _catalog_cached(app, tenant, bot_id)  # so the next call would reuse it
    # The create body without its API key, as Toolzz sends updates.
    update = {k: v for k, v in body.items() if k != "apiKey"} | {"checkAvailabilityEnabled": False}
    response = await tenant.api.put(f"/api/v1/calcom/integration/{integration_id}", json=update)
    assert response.status_code == 200, response.text
    assert response.json()["checkAvailabilityEnabled"] is False
    result = await _result(tenant, bot_id)
    assert result["ok"] is False
    assert result["error"]["code"] == "tool_disabled"


async def test_deleting_the_bot_applies_to_the_very_next_call(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    bot_id, _, _ = await bot_with_own_calcom_user(tenant, sandbox)
    await notifications_drained(app.state.sessionmaker)  # the set-up empties nothing later
    assert (await _result(tenant, bot_id))["ok"] is True
    assert _catalog_cached(app, tenant, bot_id)
    assert (await tenant.api.delete(f"/api/v1/bots/{bot_id}")).status_code == 204
    response = await _check_availability(tenant, bot_id)
    assert response.status_code == 404, response.text


async def test_a_revoked_token_is_refused_on_the_very_next_request(
    tenant: Tenant, app: FastAPI
) -> None:
    issued = await tenant.api.post("/api/v1/access-tokens", json={"name": "agent"})
    assert issued.status_code == 201, issued.text
    token, token_id = issued.json()["token"], issued.json()["id"]
    await notifications_drained(app.state.sessionmaker)  # the issue empties nothing later
    async with tenant.client(token) as agent:
        assert (await agent.get("/api/v1/bots")).status_code == 200
        assert (await agent.get("/api/v1/bots")).status_code == 200
        assert app.state.principals.get(hash_token(token)) is not None  # it is cached
        revoked = await tenant.api.delete(f"/api/v1/access-tokens/{token_id}")
        assert revoked.status_code == 204, revoked.text
        refused = await agent.get("/api/v1/bots")
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    # The token that revoked it is unaffected.
    assert (await tenant.api.get("/api/v1/bots")).status_code == 200
