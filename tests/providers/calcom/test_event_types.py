"""`GET /api/v1/calcom/integration/{id}/event-types`, read live from the Cal.com sandbox."""

from __future__ import annotations

import httpx
import pytest

from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant, calcom_body


async def _integration(tenant: Tenant, **overrides: object) -> str:
    body = calcom_body(tenant.unit_id, apiKey=DEMO_API_KEY, calcomUsername=DEMO_USERNAME)
    body.update(overrides)
    created = await tenant.api.post("/api/v1/calcom/integration", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_event_types_of_the_demo_user_come_from_calcom(tenant: Tenant) -> None:
    integration_id = await _integration(tenant)
    response = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(t["slug"], t["lengthInMinutes"]) for t in data] == [("30min", 30), ("60min", 60)]
    assert all(set(t) == {"id", "slug", "title", "lengthInMinutes"} for t in data)
    assert all(isinstance(t["id"], int) for t in data)


async def test_event_types_are_read_live_not_cached(tenant: Tenant, sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        made = await http.post(
            "/sandbox/calcom/users",
            json={
                "username": "dr-live",
                "timeZone": "Europe/Lisbon",
                "eventTypes": [{"slug": "consulta", "lengthInMinutes": 45}],
            },
        )
    assert made.status_code == 201
    account = made.json()
    integration_id = await _integration(
        tenant, apiKey=account["apiKey"], calcomUsername=account["username"]
    )
    first = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert [t["slug"] for t in first.json()["data"]] == ["consulta"]
    sandbox.calcom.users["dr-live"].event_types.clear()
    second = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert second.json()["data"] == []


async def test_a_rejected_api_key_is_a_409_credential_refused_naming_the_fix(
    tenant: Tenant,
) -> None:
    integration_id = await _integration(tenant, apiKey="cal_live_wrong_key_123")
    response = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:agentcal:problem:credential-refused"
    assert "apiKey" in problem["detail"]
    assert "cal_live_wrong_key_123" not in response.text


async def test_an_unknown_calcom_user_is_reported(tenant: Tenant) -> None:
    integration_id = await _integration(tenant, calcomUsername="nobody-here")
    response = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert response.status_code == 409
    assert response.json()["type"].endswith("calcom-not-found")


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault(path_prefix="/calcom/v2/event-types", status=500, times=10), "10"),
        (Fault(path_prefix="/calcom/v2/event-types", status=429, retry_after=60), "60"),
    ],
    ids=["outage", "rate-limited"],
)
async def test_a_calcom_outage_is_a_503_with_retry_after(
    tenant: Tenant, sandbox: SandboxServer, fault: Fault, retry_after: str
) -> None:
    integration_id = await _integration(tenant)
    sandbox.state.faults.rules.append(fault)
    response = await tenant.api.get(f"/api/v1/calcom/integration/{integration_id}/event-types")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == retry_after
    assert "Cal.com" in response.json()["detail"]


async def test_event_types_of_another_institution_are_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    integration_id = await _integration(tenant)
    response = await other_tenant.api.get(
        f"/api/v1/calcom/integration/{integration_id}/event-types"
    )
    assert response.status_code == 404
