"""The Cal.com sandbox answers in Cal.com's shapes (checked against the official spec)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from agentcal.sandbox.calcom import DEMO_API_KEY
from tests.conftest import SandboxServer

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "calcom-v2-openapi.json"
HEADERS = {"cal-api-version": "2024-06-14"}


@pytest.fixture(scope="module")
def calcom_spec() -> dict[str, object]:
    if not SPEC.exists():
        pytest.skip(f"the Cal.com spec is not at {SPEC}")
    spec: dict[str, object] = json.loads(SPEC.read_text())
    return spec


async def test_event_types_have_every_field_the_spec_requires(
    sandbox: SandboxServer, calcom_spec: dict[str, dict[str, dict[str, dict[str, object]]]]
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.get(
            "/calcom/v2/event-types", params={"username": "demo"}, headers=HEADERS
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    required = calcom_spec["components"]["schemas"]["EventTypeOutput_2024_06_14"]["required"]
    assert isinstance(required, list)
    for item in body["data"]:
        assert set(required) <= set(item)


@pytest.mark.spec_violation_expected  # no cal-api-version header, on purpose
async def test_a_missing_api_version_is_refused_in_calcoms_error_envelope(
    sandbox: SandboxServer,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.get("/calcom/v2/event-types", params={"username": "demo"})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == "BadRequestException"
    assert body["path"] == "/calcom/v2/event-types"


async def test_me_needs_a_valid_key(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        ok = await http.get("/calcom/v2/me", headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
        refused = await http.get("/calcom/v2/me", headers={"Authorization": "Bearer cal_nope"})
    assert ok.status_code == 200
    assert ok.json()["data"]["username"] == "demo"
    assert ok.json()["data"]["timeZone"] == "America/Sao_Paulo"
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UnauthorizedException"


async def test_new_users_get_a_key_and_their_event_types(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        made = await http.post(
            "/sandbox/calcom/users",
            json={
                "username": "sandbox-new",
                "timeZone": "Asia/Tokyo",
                "eventTypes": [{"slug": "intro", "lengthInMinutes": 15}],
            },
        )
        again = await http.post(
            "/sandbox/calcom/users", json={"username": "sandbox-new", "timeZone": "UTC"}
        )
        bad = await http.post("/sandbox/calcom/users", json={"username": "x", "timeZone": "Nope"})
        me = await http.get(
            "/calcom/v2/me", headers={"Authorization": f"Bearer {made.json()['apiKey']}"}
        )
    assert made.status_code == 201
    account = made.json()
    assert account["apiKey"].startswith("cal_")
    assert [(e["slug"], e["lengthInMinutes"]) for e in account["eventTypes"]] == [("intro", 15)]
    assert again.status_code == 409
    assert bad.status_code == 422
    assert me.json()["data"]["timeZone"] == "Asia/Tokyo"
