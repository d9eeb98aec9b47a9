"""The Cal.com sandbox answers in Cal.com's shapes (checked against the official spec)."""

from __future__ import annotations

import json

import httpx
import pytest

from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from tests.conftest import SandboxServer
from tests.contract.specs import CALCOM_SPEC
from tests.support import next_monday

HEADERS = {"cal-api-version": "2024-06-14"}


@pytest.fixture(scope="module")
def calcom_spec() -> dict[str, object]:
    spec: dict[str, object] = json.loads(CALCOM_SPEC.read_text(encoding="utf-8"))
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


BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {DEMO_API_KEY}"}


def _booking_body(sandbox: SandboxServer, hour: int, **extra: object) -> dict[str, object]:
    """A booking of the demo user's 30min at `hour` UTC next Monday."""
    return {
        "start": f"{next_monday().isoformat()}T{hour:02d}:00:00Z",
        "eventTypeId": sandbox.calcom.users[DEMO_USERNAME].event_types[0].id,
        "attendee": {"name": "Ada", "email": "ada@example.com", "timeZone": "UTC"},
        **extra,
    }


async def test_a_bookings_metadata_is_stored_and_returned(sandbox: SandboxServer) -> None:
    metadata = {"agentcalCall": "a" * 64, "count": 3, "vip": True}
    async with httpx.AsyncClient(base_url=sandbox.url, headers=BOOKINGS) as http:
        created = await http.post(
            "/calcom/v2/bookings", json=_booking_body(sandbox, 13, metadata=metadata)
        )
        assert created.status_code == 201, created.text
        uid = created.json()["data"]["uid"]
        fetched = await http.get(f"/calcom/v2/bookings/{uid}")
        listed = await http.get("/calcom/v2/bookings", params={"attendeeEmail": "ada@example.com"})
    assert created.json()["data"]["metadata"] == metadata
    assert fetched.json()["data"]["metadata"] == metadata
    assert [b["metadata"] for b in listed.json()["data"]] == [metadata]


async def test_a_booking_without_metadata_answers_an_empty_object(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=BOOKINGS) as http:
        created = await http.post("/calcom/v2/bookings", json=_booking_body(sandbox, 14))
    assert created.status_code == 201, created.text
    assert created.json()["data"]["metadata"] == {}


@pytest.mark.parametrize(
    "metadata",
    [
        {"k" * 41: "v"},  # a key over 40 characters
        {"note": "v" * 501},  # a string value over 500
        {f"k{i}": "v" for i in range(51)},  # over 50 keys
        {"nested": {"a": "b"}},  # values are strings, numbers or booleans
        pytest.param(["not", "an", "object"], marks=pytest.mark.spec_violation_expected),
    ],
)
async def test_metadata_beyond_calcoms_rules_is_refused(
    sandbox: SandboxServer, metadata: object
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=BOOKINGS) as http:
        refused = await http.post(
            "/calcom/v2/bookings", json=_booking_body(sandbox, 15, metadata=metadata)
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"].startswith("metadata - ")
    assert sandbox.calcom.bookings == {}


async def test_bookings_are_listed_by_start_either_way(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=BOOKINGS) as http:
        for hour in (15, 13, 14):
            created = await http.post("/calcom/v2/bookings", json=_booking_body(sandbox, hour))
            assert created.status_code == 201, created.text
        listed = {
            order: await http.get("/calcom/v2/bookings", params={"sortStart": order})
            for order in ("asc", "desc")
        }
    hours = {order: [b["start"][11:13] for b in r.json()["data"]] for order, r in listed.items()}
    assert hours == {"asc": ["13", "14", "15"], "desc": ["15", "14", "13"]}
