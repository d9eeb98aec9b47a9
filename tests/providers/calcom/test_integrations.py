"""`/api/v1/calcom/integration`: the seed `create-calcom-function` and its validation."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agentcal.providers.calcom.models import API_KEY, CalcomIntegration
from tests.factories import CALCOM_API_KEY, Tenant, add_member, calcom_body, calcom_update_body

BASE = "/api/v1/calcom/integration"

SEED_KEYS = {
    "id",
    "botId",
    "unitId",
    "title",
    "calcomUsername",
    "apiKey",
    "isActive",
    "isTokenMasked",
    "timezone",
    "prompt",
    "checkAvailabilityEnabled",
    "createBookingEnabled",
    "defaultEventTypeId",
    "defaultEventTypeSlug",
    "createdAt",
    "updatedAt",
}
CREATE_REQUIRED = [
    "title",
    "unitId",
    "apiKey",
    "calcomUsername",
    "timezone",
    "prompt",
    "checkAvailabilityEnabled",
    "createBookingEnabled",
]
UPDATE_REQUIRED = [f for f in CREATE_REQUIRED if f != "apiKey"]
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
UPDATED_AT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
LINK_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')
CAL_MASK = "cal_" + "*" * 16
PLAIN_MASK = "*" * 16


# --- helpers -------------------------------------------------------------------------------


async def create(api: httpx.AsyncClient, unit_id: str, **overrides: Any) -> dict[str, Any]:
    response = await api.post(BASE, json=calcom_body(unit_id, **overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(app: FastAPI, integration_id: str) -> CalcomIntegration | None:
    """The row as the database holds it, read in a fresh session."""
    async with app.state.sessionmaker() as session:
        row: CalcomIntegration | None = await session.get(
            CalcomIntegration, uuid.UUID(integration_id)
        )
        return row


async def create_unit(tenant: Tenant, name: str) -> str:
    response = await tenant.api.post("/api/v1/units", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_bot(tenant: Tenant, unit_id: str, name: str = "Reception bot") -> str:
    response = await tenant.api.post("/api/v1/bots", json={"name": name, "unitId": unit_id})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    return body


def assert_invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 422 problem whose `errors[].field` names `field`; returns that error."""
    body = assert_problem(response, 422)
    by_field = {e["field"]: e for e in body["errors"]}
    assert field in by_field, body["errors"]
    assert by_field[field]["message"]
    error: dict[str, Any] = by_field[field]
    return error


def same_problem(a: dict[str, Any], a_id: str, b: dict[str, Any], b_id: str) -> bool:
    """Two problem bodies are the same but for the id each one names."""
    return {k: str(v).replace(a_id, "<id>") for k, v in a.items()} == {
        k: str(v).replace(b_id, "<id>") for k, v in b.items()
    }


def parse_utc(text: str, fmt: str = "%Y-%m-%d %H:%M:%S.%f") -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


async def send(
    tenant: Tenant, method: str, overrides: dict[str, Any], drop: str | None = None
) -> httpx.Response:
    """POST a create body, or PUT an update body to a fresh integration, with `overrides`."""
    if method == "POST":
        body = calcom_body(tenant.unit_id)
        url = BASE
    else:
        existing = await create(tenant.api, tenant.unit_id)
        body = calcom_update_body(tenant.unit_id)
        url = f"{BASE}/{existing['id']}"
    body.update(overrides)
    if drop is not None:
        del body[drop]
    return await tenant.api.request(method, url, json=body)


# --- 1. create -----------------------------------------------------------------------------


async def test_create_answers_201_with_exactly_the_seed_keys_and_values(tenant: Tenant) -> None:
    before = datetime.now(UTC)
    response = await tenant.api.post(BASE, json=calcom_body(tenant.unit_id))
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == SEED_KEYS
    sent = calcom_body(tenant.unit_id)
    assert uuid.UUID(body["id"]).version == 4
    assert body["botId"] is None
    assert body["unitId"] == tenant.unit_id
    for key in ("title", "calcomUsername", "timezone", "prompt"):
        assert body[key] == sent[key]
    assert body["apiKey"] == CAL_MASK
    assert body["isActive"] is True
    assert body["isTokenMasked"] is True
    assert body["checkAvailabilityEnabled"] is True
    assert body["createBookingEnabled"] is True
    assert body["defaultEventTypeId"] is None
    assert body["defaultEventTypeSlug"] is None

    assert CREATED_AT.match(body["createdAt"]), body["createdAt"]
    assert UPDATED_AT.match(body["updatedAt"]), body["updatedAt"]
    slack = timedelta(seconds=1)
    created = parse_utc(body["createdAt"])
    updated = parse_utc(body["updatedAt"])
    assert before - slack <= created <= after + slack
    assert before - slack <= updated <= after + slack
    row = await stored(tenant.app, body["id"])
    assert row is not None
    assert abs(row.created_at - created) < timedelta(microseconds=1)


async def test_create_stores_the_switches_as_sent(tenant: Tenant) -> None:
    body = await create(
        tenant.api, tenant.unit_id, checkAvailabilityEnabled=False, createBookingEnabled=True
    )
    assert body["checkAvailabilityEnabled"] is False
    assert body["createBookingEnabled"] is True
    other = await create(
        tenant.api, tenant.unit_id, checkAvailabilityEnabled=True, createBookingEnabled=False
    )
    assert other["checkAvailabilityEnabled"] is True
    assert other["createBookingEnabled"] is False


async def test_create_accepts_the_optional_extensions(tenant: Tenant) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    body = await create(
        tenant.api,
        tenant.unit_id,
        botId=bot_id,
        defaultEventTypeId=123456,
        defaultEventTypeSlug="30min",
    )
    assert body["botId"] == bot_id
    assert body["defaultEventTypeId"] == 123456
    assert body["defaultEventTypeSlug"] == "30min"
    fetched = await tenant.api.get(f"{BASE}/{body['id']}")
    assert fetched.json() == body


async def test_create_stores_the_api_key_encrypted(tenant: Tenant) -> None:
    body = await create(tenant.api, tenant.unit_id)
    row = await stored(tenant.app, body["id"])
    assert row is not None
    assert CALCOM_API_KEY.encode() not in row.api_key_ciphertext
    assert API_KEY.open(tenant.app.state.keyring, row) == CALCOM_API_KEY


# --- 2. masking ----------------------------------------------------------------------------

MASK_CASES = [
    pytest.param("cal_live_5f2b9c7e1d3a4b6c8e0f", CAL_MASK, id="cal-prefix"),
    pytest.param("sk_live_9a8b7c6d5e4f3a2b1c0d", PLAIN_MASK, id="other-prefix"),
    pytest.param("CAL_LIVE_9a8b7c6d5e4f3a2b1c0d", PLAIN_MASK, id="uppercase-CAL"),
    pytest.param("calx9a8b7c6d5e4f3a2b1c0d", PLAIN_MASK, id="cal-without-underscore"),
]


def assert_masked(response: httpx.Response, clear: str, mask: str) -> None:
    assert response.status_code in (200, 201), response.text
    body = response.json()
    items = body["data"] if "data" in body else [body]
    assert items
    for item in items:
        assert item["apiKey"] == mask
        assert item["isTokenMasked"] is True
    assert clear not in response.text
    # Nor any recognisable tail of it.
    assert clear[-8:] not in response.text


@pytest.mark.parametrize(("clear", "mask"), MASK_CASES)
async def test_api_key_is_masked_on_create_get_and_list(
    tenant: Tenant, clear: str, mask: str
) -> None:
    created = await tenant.api.post(BASE, json=calcom_body(tenant.unit_id, apiKey=clear))
    assert_masked(created, clear, mask)
    integration_id = created.json()["id"]
    assert_masked(await tenant.api.get(f"{BASE}/{integration_id}"), clear, mask)
    assert_masked(await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}"), clear, mask)


@pytest.mark.parametrize(("clear", "mask"), MASK_CASES)
async def test_api_key_is_masked_on_update_without_rotation(
    tenant: Tenant, clear: str, mask: str
) -> None:
    created = await create(tenant.api, tenant.unit_id, apiKey=clear)
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, title="Agenda")
    )
    assert_masked(response, clear, mask)


@pytest.mark.parametrize(("clear", "mask"), MASK_CASES)
async def test_api_key_is_masked_on_update_with_rotation(
    tenant: Tenant, clear: str, mask: str
) -> None:
    # Start from the other kind of key, so the mask must follow the new one.
    first = "sk_test_0000aaaa1111bbbb" if mask == CAL_MASK else "cal_test_0000aaaa1111bbbb"
    created = await create(tenant.api, tenant.unit_id, apiKey=first)
    assert created["apiKey"] != mask
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, apiKey=clear)
    )
    assert_masked(response, clear, mask)
    assert first not in response.text
    assert_masked(await tenant.api.get(f"{BASE}/{created['id']}"), clear, mask)


# --- 3. read and list ----------------------------------------------------------------------


async def test_get_by_id_answers_the_integration(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id, title="Agenda Dra. Ana")
    response = await tenant.api.get(f"{BASE}/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_get_of_a_missing_id_answers_404(tenant: Tenant) -> None:
    await create(tenant.api, tenant.unit_id)
    assert_problem(await tenant.api.get(f"{BASE}/{uuid.uuid4()}"), 404)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/not-a-uuid", "id"),
        ("PUT", "/not-a-uuid", "id"),
        ("DELETE", "/12345", "id"),
        ("GET", "/unit/not-a-uuid", "unitId"),
    ],
)
async def test_a_malformed_path_id_answers_422(
    tenant: Tenant, method: str, path: str, field: str
) -> None:
    body = calcom_update_body(tenant.unit_id) if method == "PUT" else None
    assert_invalid(await tenant.api.request(method, BASE + path, json=body), field)


async def test_list_answers_the_units_integrations_newest_first(tenant: Tenant) -> None:
    ids = [(await create(tenant.api, tenant.unit_id, title=f"Agenda {i}"))["id"] for i in range(3)]
    elsewhere = await create_unit(tenant, "Support")
    await create(tenant.api, elsewhere, title="Support agenda")

    response = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    assert [item["id"] for item in body["data"]] == list(reversed(ids))
    assert all(set(item) == SEED_KEYS for item in body["data"])
    assert all(item["unitId"] == tenant.unit_id for item in body["data"])
    assert "link" not in response.headers


async def test_list_of_a_unit_without_integrations_is_empty(tenant: Tenant) -> None:
    await create(tenant.api, tenant.unit_id)
    empty_unit = await create_unit(tenant, "Billing")
    response = await tenant.api.get(f"{BASE}/unit/{empty_unit}")
    assert response.status_code == 200
    assert response.json() == {"data": []}


async def test_list_of_a_missing_unit_answers_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.get(f"{BASE}/unit/{uuid.uuid4()}"), 404)


async def test_list_pages_follow_the_link_header(tenant: Tenant) -> None:
    ids = [(await create(tenant.api, tenant.unit_id, title=f"Agenda {i}"))["id"] for i in range(5)]
    newest_first = list(reversed(ids))

    seen: list[str] = []
    url: str | None = f"{BASE}/unit/{tenant.unit_id}?limit=2"
    pages = 0
    while url is not None:
        response = await tenant.api.get(url)
        assert response.status_code == 200
        data = response.json()["data"]
        assert len(data) <= 2
        seen += [item["id"] for item in data]
        pages += 1
        link = response.headers.get("link")
        if link is None:
            url = None
        else:
            match = LINK_NEXT.match(link)
            assert match, link
            url = match.group(1)
            assert f"page={pages + 1}" in url
            assert "limit=2" in url
    assert pages == 3
    assert seen == newest_first


async def test_list_has_no_link_when_the_last_page_is_exactly_full(tenant: Tenant) -> None:
    for i in range(4):
        await create(tenant.api, tenant.unit_id, title=f"Agenda {i}")
    first = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}", params={"limit": 2})
    assert "link" in first.headers
    second = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}", params={"page": 2, "limit": 2})
    assert len(second.json()["data"]) == 2
    assert "link" not in second.headers
    beyond = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}", params={"page": 3, "limit": 2})
    assert beyond.status_code == 200
    assert beyond.json() == {"data": []}


async def test_list_limit_defaults_to_50(tenant: Tenant) -> None:
    for i in range(51):
        await create(tenant.api, tenant.unit_id, title=f"Agenda {i}")
    response = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}")
    assert len(response.json()["data"]) == 50
    match = LINK_NEXT.match(response.headers["link"])
    assert match
    assert "page=2" in match.group(1)
    assert "limit=50" in match.group(1)
    rest = await tenant.api.get(match.group(1))
    assert len(rest.json()["data"]) == 1
    assert "link" not in rest.headers


async def test_list_accepts_limit_200(tenant: Tenant) -> None:
    await create(tenant.api, tenant.unit_id)
    response = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}", params={"limit": 200})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 201}, "limit", id="limit-201"),
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"limit": "ten"}, "limit", id="limit-text"),
        pytest.param({"page": 0}, "page", id="page-0"),
        pytest.param({"page": -1}, "page", id="page-negative"),
        pytest.param({"page": "two"}, "page", id="page-text"),
    ],
)
async def test_list_rejects_bad_paging(tenant: Tenant, params: dict[str, Any], field: str) -> None:
    response = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}", params=params)
    assert_invalid(response, field)


# --- 4. update -----------------------------------------------------------------------------


async def test_update_replaces_the_settings_without_an_api_key(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    before = await stored(tenant.app, created["id"])
    assert before is not None
    changes = {
        "title": "Agenda Dr. Bruno",
        "calcomUsername": "dr.bruno_lima",
        "timezone": "Europe/Lisbon",
        "prompt": "Book follow-up visits with Dr. Bruno.",
        "checkAvailabilityEnabled": False,
        "createBookingEnabled": False,
    }
    body = calcom_update_body(tenant.unit_id, **changes)
    assert "apiKey" not in body

    response = await tenant.api.put(f"{BASE}/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == SEED_KEYS
    for key, value in changes.items():
        assert updated[key] == value
    assert updated["id"] == created["id"]
    assert updated["apiKey"] == created["apiKey"]
    assert (await tenant.api.get(f"{BASE}/{created['id']}")).json() == updated

    after = await stored(tenant.app, created["id"])
    assert after is not None
    assert after.api_key_ciphertext == before.api_key_ciphertext
    assert API_KEY.open(tenant.app.state.keyring, after) == CALCOM_API_KEY


async def test_update_with_an_api_key_rotates_it(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    before = await stored(tenant.app, created["id"])
    assert before is not None
    new_key = "cal_live_a1b2c3d4e5f60718293a"

    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, apiKey=new_key)
    )
    assert response.status_code == 200, response.text

    after = await stored(tenant.app, created["id"])
    assert after is not None
    assert after.api_key_ciphertext != before.api_key_ciphertext
    assert API_KEY.open(tenant.app.state.keyring, after) == new_key


async def test_update_trims_a_rotated_api_key(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    new_key = "cal_live_a1b2c3d4e5f60718293a"
    response = await tenant.api.put(
        f"{BASE}/{created['id']}",
        json=calcom_update_body(tenant.unit_id, apiKey=f"  {new_key}\n"),
    )
    assert response.status_code == 200, response.text
    row = await stored(tenant.app, created["id"])
    assert row is not None
    assert API_KEY.open(tenant.app.state.keyring, row) == new_key


@pytest.mark.parametrize("field", UPDATE_REQUIRED)
async def test_update_requires_the_toolzz_fields(tenant: Tenant, field: str) -> None:
    created = await create(tenant.api, tenant.unit_id)
    body = calcom_update_body(tenant.unit_id)
    del body[field]
    response = await tenant.api.put(f"{BASE}/{created['id']}", json=body)
    assert assert_invalid(response, field)["message"] == "is required"


async def test_update_keeps_omitted_extensions(tenant: Tenant) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    created = await create(
        tenant.api,
        tenant.unit_id,
        botId=bot_id,
        defaultEventTypeId=42,
        defaultEventTypeSlug="60min",
    )
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, title="Agenda")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "Agenda"
    assert body["botId"] == bot_id
    assert body["defaultEventTypeId"] == 42
    assert body["defaultEventTypeSlug"] == "60min"


@pytest.mark.parametrize("field", ["botId", "defaultEventTypeId", "defaultEventTypeSlug"])
async def test_update_with_null_clears_an_extension(tenant: Tenant, field: str) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    created = await create(
        tenant.api,
        tenant.unit_id,
        botId=bot_id,
        defaultEventTypeId=42,
        defaultEventTypeSlug="60min",
    )
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, **{field: None})
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body[field] is None
    for other in {"botId", "defaultEventTypeId", "defaultEventTypeSlug"} - {field}:
        assert body[other] == created[other]
    assert (await tenant.api.get(f"{BASE}/{created['id']}")).json()[field] is None


async def test_update_sets_extensions_that_were_unset(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    bot_id = await create_bot(tenant, tenant.unit_id)
    response = await tenant.api.put(
        f"{BASE}/{created['id']}",
        json=calcom_update_body(
            tenant.unit_id, botId=bot_id, defaultEventTypeId=7, defaultEventTypeSlug="consulta"
        ),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["botId"], body["defaultEventTypeId"], body["defaultEventTypeSlug"]) == (
        bot_id,
        7,
        "consulta",
    )


async def test_update_toggles_is_active(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    url = f"{BASE}/{created['id']}"

    off = await tenant.api.put(url, json=calcom_update_body(tenant.unit_id, isActive=False))
    assert off.status_code == 200, off.text
    assert off.json()["isActive"] is False

    kept = await tenant.api.put(url, json=calcom_update_body(tenant.unit_id, title="Agenda"))
    assert kept.json()["isActive"] is False

    on = await tenant.api.put(url, json=calcom_update_body(tenant.unit_id, isActive=True))
    assert on.json()["isActive"] is True
    assert (await tenant.api.get(url)).json()["isActive"] is True


@pytest.mark.parametrize("field", ["apiKey", "isActive"])
async def test_update_refuses_null_for_fields_that_cannot_be_cleared(
    tenant: Tenant, field: str
) -> None:
    created = await create(tenant.api, tenant.unit_id)
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, **{field: None})
    )
    assert_invalid(response, field)
    # Nothing was changed by the refused request.
    assert (await tenant.api.get(f"{BASE}/{created['id']}")).json() == created


async def test_update_moves_updated_at_but_not_created_at(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    await asyncio.sleep(0.01)
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(tenant.unit_id, title="Agenda")
    )
    updated = response.json()
    assert updated["createdAt"] == created["createdAt"]
    assert UPDATED_AT.match(updated["updatedAt"])
    assert parse_utc(updated["updatedAt"]) > parse_utc(created["updatedAt"])
    assert parse_utc(updated["updatedAt"]) - datetime.now(UTC) < timedelta(seconds=1)
    fetched = (await tenant.api.get(f"{BASE}/{created['id']}")).json()
    assert fetched["createdAt"] == created["createdAt"]
    assert fetched["updatedAt"] == updated["updatedAt"]


async def test_update_of_a_missing_id_answers_404(tenant: Tenant) -> None:
    response = await tenant.api.put(
        f"{BASE}/{uuid.uuid4()}", json=calcom_update_body(tenant.unit_id)
    )
    assert_problem(response, 404)


async def test_update_can_move_the_integration_to_another_unit(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    support = await create_unit(tenant, "Support")
    response = await tenant.api.put(f"{BASE}/{created['id']}", json=calcom_update_body(support))
    assert response.status_code == 200, response.text
    assert response.json()["unitId"] == support
    listed = await tenant.api.get(f"{BASE}/unit/{support}")
    assert [i["id"] for i in listed.json()["data"]] == [created["id"]]
    assert (await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}")).json() == {"data": []}


# --- 5. delete -----------------------------------------------------------------------------


async def test_delete_answers_204_and_removes_the_row(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    keep = await create(tenant.api, tenant.unit_id, title="Keep me")
    url = f"{BASE}/{created['id']}"

    response = await tenant.api.delete(url)
    assert response.status_code == 204
    assert response.content == b""

    assert_problem(await tenant.api.get(url), 404)
    assert await stored(tenant.app, created["id"]) is None
    assert await stored(tenant.app, keep["id"]) is not None
    listed = await tenant.api.get(f"{BASE}/unit/{tenant.unit_id}")
    assert [i["id"] for i in listed.json()["data"]] == [keep["id"]]


async def test_delete_twice_answers_404(tenant: Tenant) -> None:
    created = await create(tenant.api, tenant.unit_id)
    assert (await tenant.api.delete(f"{BASE}/{created['id']}")).status_code == 204
    assert_problem(await tenant.api.delete(f"{BASE}/{created['id']}"), 404)


# --- 6. validation -------------------------------------------------------------------------


@pytest.mark.parametrize("field", CREATE_REQUIRED)
async def test_create_requires_every_seed_field(tenant: Tenant, field: str) -> None:
    body = calcom_body(tenant.unit_id)
    del body[field]
    response = await tenant.api.post(BASE, json=body)
    assert assert_invalid(response, field)["message"] == "is required"


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_unity_id_instead_of_unit_id_is_named_and_hinted(tenant: Tenant, method: str) -> None:
    response = await send(tenant, method, {"unityId": tenant.unit_id}, drop="unitId")
    error = assert_invalid(response, "unityId")
    assert "unitId" in error["message"]
    assert_invalid(response, "unitId")


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("field", ["foo", "unit_id", "api_key", "isTokenMasked", "id"])
async def test_unknown_fields_are_refused(tenant: Tenant, method: str, field: str) -> None:
    response = await send(tenant, method, {field: "x"})
    assert_invalid(response, field)


async def test_create_refuses_is_active(tenant: Tenant) -> None:
    # `isActive` is a PUT-only field in the contract; create always makes it active.
    assert_invalid(await send(tenant, "POST", {"isActive": False}), "isActive")


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_strings_are_trimmed(tenant: Tenant, method: str) -> None:
    response = await send(
        tenant,
        method,
        {
            "title": " Calcom ",
            "calcomUsername": "\tdr-ana.souza \n",
            "timezone": " America/Sao_Paulo ",
            "prompt": "  Book consultations.  ",
            "defaultEventTypeSlug": " 30min ",
        },
    )
    assert response.status_code in (200, 201), response.text
    body = response.json()
    assert body["title"] == "Calcom"
    assert body["calcomUsername"] == "dr-ana.souza"
    assert body["timezone"] == "America/Sao_Paulo"
    assert body["prompt"] == "Book consultations."
    assert body["defaultEventTypeSlug"] == "30min"
    row = await stored(tenant.app, body["id"])
    assert row is not None
    assert (row.title, row.calcom_username, row.timezone, row.prompt) == (
        "Calcom",
        "dr-ana.souza",
        "America/Sao_Paulo",
        "Book consultations.",
    )


async def test_create_trims_the_api_key(tenant: Tenant) -> None:
    body = await create(tenant.api, tenant.unit_id, apiKey=f" {CALCOM_API_KEY} ")
    assert body["apiKey"] == CAL_MASK
    row = await stored(tenant.app, body["id"])
    assert row is not None
    assert API_KEY.open(tenant.app.state.keyring, row) == CALCOM_API_KEY


STRING_FIELDS = ["title", "apiKey", "calcomUsername", "timezone", "prompt"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
@pytest.mark.parametrize("field", STRING_FIELDS)
async def test_empty_or_blank_strings_are_refused(
    tenant: Tenant, method: str, blank: str, field: str
) -> None:
    assert_invalid(await send(tenant, method, {field: blank}), field)


INVALID_VALUES = [
    # timezone: IANA names known to zoneinfo only
    ("timezone", "Mars/Base"),
    ("timezone", "GMT+3"),
    ("timezone", "america/sao_paulo"),
    ("timezone", "-03:00"),
    ("timezone", 3),
    # unitId: a UUID
    ("unitId", "not-a-uuid"),
    ("unitId", "3fa85f64-5717-4562-b3fc"),
    ("unitId", 12345),
    ("unitId", None),
    # booleans: JSON booleans only
    ("checkAvailabilityEnabled", "true"),
    ("checkAvailabilityEnabled", 1),
    ("checkAvailabilityEnabled", 0),
    ("checkAvailabilityEnabled", None),
    ("createBookingEnabled", "false"),
    ("createBookingEnabled", 1),
    ("createBookingEnabled", None),
    ("createBookingEnabled", "yes"),
    # calcomUsername: 1-100 of letters, digits, '.', '_', '-'
    ("calcomUsername", "a" * 101),
    ("calcomUsername", "ana souza"),
    ("calcomUsername", "ana@souza"),
    ("calcomUsername", "ana/souza"),
    ("calcomUsername", "anã"),
    ("calcomUsername", 42),
    # title 1-120, prompt 1-20000
    ("title", "t" * 121),
    ("title", None),
    ("title", ["Calcom"]),
    ("prompt", "p" * 20_001),
    ("prompt", None),
    # apiKey: a token (no spaces, printable), not null
    ("apiKey", None),
    ("apiKey", "cal live key"),
    ("apiKey", 12345),
    # defaultEventTypeId: a positive 32-bit integer
    ("defaultEventTypeId", "5"),
    ("defaultEventTypeId", 5.5),
    ("defaultEventTypeId", 0),
    ("defaultEventTypeId", -1),
    ("defaultEventTypeId", 2**31),
    ("defaultEventTypeId", 10**30),
    ("defaultEventTypeId", True),
    # defaultEventTypeSlug: a slug
    ("defaultEventTypeSlug", "Thirty Min"),
    ("defaultEventTypeSlug", "30 min"),
    ("defaultEventTypeSlug", "-30min"),
    ("defaultEventTypeSlug", "30min/x"),
    ("defaultEventTypeSlug", ""),
    ("defaultEventTypeSlug", "s" * 101),
    ("defaultEventTypeSlug", 30),
    # botId: a UUID
    ("botId", "bot-1"),
    ("botId", 1),
    # NUL characters, which no database column can store
    ("title", "Cal\x00com"),
    ("prompt", "Book\x00 consultations"),
    ("calcomUsername", "ana\x00souza"),
    ("apiKey", "cal_live\x00_5f2b9c7e"),
    ("timezone", "UTC\x00"),
    ("defaultEventTypeSlug", "30min\x00"),
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(("field", "value"), INVALID_VALUES)
async def test_invalid_values_are_refused(
    tenant: Tenant, method: str, field: str, value: Any
) -> None:
    response = await send(tenant, method, {field: value})
    assert_invalid(response, field)


@pytest.mark.parametrize("value", ["true", 1, "false", 0])
async def test_update_is_active_must_be_a_json_boolean(tenant: Tenant, value: Any) -> None:
    assert_invalid(await send(tenant, "PUT", {"isActive": value}), "isActive")


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_integer_json_numbers_are_refused_as_event_type_id(
    tenant: Tenant, method: str, number: str
) -> None:
    url = BASE
    body = calcom_body(tenant.unit_id)
    if method == "PUT":
        url = f"{BASE}/{(await create(tenant.api, tenant.unit_id))['id']}"
        body = calcom_update_body(tenant.unit_id)
    body["defaultEventTypeId"] = 0
    raw = httpx.Request("POST", "/", json=body).content
    raw = raw.replace(b'"defaultEventTypeId":0', b'"defaultEventTypeId":' + number.encode())
    assert number.encode() in raw
    response = await tenant.api.request(
        method, url, content=raw, headers={"Content-Type": "application/json"}
    )
    assert_invalid(response, "defaultEventTypeId")


VALID_VALUES = [
    ("timezone", "UTC"),
    ("timezone", "Europe/Lisbon"),
    ("timezone", "America/Argentina/Buenos_Aires"),
    ("calcomUsername", "dr-ana.souza_1"),
    ("calcomUsername", "a"),
    ("calcomUsername", "A" * 100),
    ("title", "t"),
    ("title", "t" * 120),
    ("title", "Agenda da Dra. Ana — Clínica São José"),
    ("prompt", "p" * 20_000),
    ("apiKey", "cal_" + "k" * 60),
    ("defaultEventTypeId", 1),
    ("defaultEventTypeId", 2**31 - 1),
    ("defaultEventTypeSlug", "30min"),
    ("defaultEventTypeSlug", "consulta-inicial_2"),
    ("checkAvailabilityEnabled", False),
    ("createBookingEnabled", False),
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(("field", "value"), VALID_VALUES)
async def test_valid_boundary_values_are_accepted(
    tenant: Tenant, method: str, field: str, value: Any
) -> None:
    response = await send(tenant, method, {field: value})
    assert response.status_code == (201 if method == "POST" else 200), response.text
    if field != "apiKey":
        assert response.json()[field] == value
    else:
        row = await stored(tenant.app, response.json()["id"])
        assert row is not None
        assert API_KEY.open(tenant.app.state.keyring, row) == value


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(
    "payload",
    [[], ["title", "Calcom"], "a string", 42, None, True],
    ids=["empty-array", "array", "string", "number", "null", "boolean"],
)
async def test_a_body_that_is_not_an_object_is_refused(
    tenant: Tenant, method: str, payload: Any
) -> None:
    url = BASE
    if method == "PUT":
        url = f"{BASE}/{(await create(tenant.api, tenant.unit_id))['id']}"
    response = await tenant.api.request(method, url, json=payload)
    assert_invalid(response, "body")


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_missing_body_is_refused(tenant: Tenant, method: str) -> None:
    url = BASE
    if method == "PUT":
        url = f"{BASE}/{(await create(tenant.api, tenant.unit_id))['id']}"
    assert_invalid(await tenant.api.request(method, url), "body")


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(
    "raw",
    [b'{"title": ', b"{'title': 'Calcom'}", b'{"title": "Calcom",}', b"\xff\xfe{}", b"nul"],
    ids=["truncated", "single-quotes", "trailing-comma", "not-utf8", "bare-word"],
)
async def test_invalid_json_answers_400(tenant: Tenant, method: str, raw: bytes) -> None:
    url = BASE
    if method == "PUT":
        url = f"{BASE}/{(await create(tenant.api, tenant.unit_id))['id']}"
    response = await tenant.api.request(
        method, url, content=raw, headers={"Content-Type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert "JSON" in body["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": "\\ud800"}',
        '{"\\ud800": 1}',
        '{"ti\\u0000tle": "Calcom"}',
        '{"defaultEventTypeId": NaN}',
        '{"defaultEventTypeId": Infinity}',
        '{"defaultEventTypeId": 1e400}',
        '{"defaultEventTypeId": ' + "9" * 5000 + "}",
        "[" * 5000 + "]" * 5000,
    ],
    ids=[
        "lone-surrogate-value",
        "lone-surrogate-key",
        "nul-in-key",
        "nan",
        "infinity",
        "huge-float",
        "huge-int",
        "deep-nesting",
    ],
)
async def test_hostile_bodies_never_answer_500(tenant: Tenant, raw: str) -> None:
    response = await tenant.api.post(
        BASE, content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_lone_surrogate_in_a_string_names_the_field(tenant: Tenant) -> None:
    body = calcom_body(tenant.unit_id)
    raw = httpx.Request("POST", "/", json=body).content.replace(b'"Calcom"', b'"Cal\\ud800com"')
    response = await tenant.api.post(
        BASE, content=raw, headers={"Content-Type": "application/json"}
    )
    assert_invalid(response, "title")


# --- 7. unit and bot ownership -------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_unit_of_another_institution_answers_404_like_a_missing_one(
    tenant: Tenant, other_tenant: Tenant, method: str
) -> None:
    random_id = str(uuid.uuid4())
    foreign = await send(tenant, method, {"unitId": other_tenant.unit_id})
    missing = await send(tenant, method, {"unitId": random_id})
    foreign_body = assert_problem(foreign, 404)
    missing_body = assert_problem(missing, 404)
    assert same_problem(foreign_body, other_tenant.unit_id, missing_body, random_id)
    listed = await other_tenant.api.get(f"{BASE}/unit/{other_tenant.unit_id}")
    assert listed.json() == {"data": []}


async def test_list_of_a_unit_of_another_institution_answers_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    await create(other_tenant.api, other_tenant.unit_id)
    assert_problem(await tenant.api.get(f"{BASE}/unit/{other_tenant.unit_id}"), 404)


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bot_of_the_same_unit_is_linked(tenant: Tenant, method: str) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    response = await send(tenant, method, {"botId": bot_id})
    assert response.status_code in (200, 201), response.text
    assert response.json()["botId"] == bot_id
    row = await stored(tenant.app, response.json()["id"])
    assert row is not None
    assert str(row.bot_id) == bot_id


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bot_of_another_unit_of_the_institution_answers_422(
    tenant: Tenant, method: str
) -> None:
    support = await create_unit(tenant, "Support")
    bot_id = await create_bot(tenant, support)
    response = await send(tenant, method, {"botId": bot_id})
    assert_invalid(response, "botId")


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bot_of_another_institution_answers_404(
    tenant: Tenant, other_tenant: Tenant, method: str
) -> None:
    foreign_bot = await create_bot(other_tenant, other_tenant.unit_id)
    assert_problem(await send(tenant, method, {"botId": foreign_bot}), 404)


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bot_that_does_not_exist_answers_404(tenant: Tenant, method: str) -> None:
    assert_problem(await send(tenant, method, {"botId": str(uuid.uuid4())}), 404)


async def test_moving_to_another_unit_with_the_stored_bot_answers_422(tenant: Tenant) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    created = await create(tenant.api, tenant.unit_id, botId=bot_id)
    support = await create_unit(tenant, "Support")
    response = await tenant.api.put(f"{BASE}/{created['id']}", json=calcom_update_body(support))
    assert_invalid(response, "botId")
    assert (await tenant.api.get(f"{BASE}/{created['id']}")).json() == created


async def test_moving_to_another_unit_and_unlinking_the_bot_succeeds(tenant: Tenant) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    created = await create(tenant.api, tenant.unit_id, botId=bot_id)
    support = await create_unit(tenant, "Support")
    response = await tenant.api.put(
        f"{BASE}/{created['id']}", json=calcom_update_body(support, botId=None)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["unitId"], response.json()["botId"]) == (support, None)


# --- 8. other institutions -----------------------------------------------------------------


async def test_another_institution_cannot_see_or_touch_the_integration(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create(tenant.api, tenant.unit_id)
    url = f"{BASE}/{created['id']}"
    before = await stored(tenant.app, created["id"])
    assert before is not None

    assert_problem(await other_tenant.api.get(url), 404)
    for unit_id in (other_tenant.unit_id, tenant.unit_id):
        body = calcom_update_body(unit_id, title="Hijacked", apiKey="cal_live_attacker0000000000")
        assert_problem(await other_tenant.api.put(url, json=body), 404)
    assert_problem(await other_tenant.api.delete(url), 404)
    assert_problem(await other_tenant.api.get(f"{BASE}/unit/{tenant.unit_id}"), 404)

    assert (await tenant.api.get(url)).json() == created
    after = await stored(tenant.app, created["id"])
    assert after is not None
    assert after.api_key_ciphertext == before.api_key_ciphertext
    assert API_KEY.open(tenant.app.state.keyring, after) == CALCOM_API_KEY


async def test_another_institutions_404_matches_a_missing_id(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create(tenant.api, tenant.unit_id)
    random_id = str(uuid.uuid4())
    foreign = assert_problem(await other_tenant.api.get(f"{BASE}/{created['id']}"), 404)
    missing = assert_problem(await other_tenant.api.get(f"{BASE}/{random_id}"), 404)
    assert same_problem(foreign, created["id"], missing, random_id)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", ""),
        ("GET", "/{id}"),
        ("GET", "/unit/{unit}"),
        ("PUT", "/{id}"),
        ("DELETE", "/{id}"),
    ],
)
async def test_every_endpoint_needs_a_token(
    tenant: Tenant, client: httpx.AsyncClient, method: str, path: str
) -> None:
    created = await create(tenant.api, tenant.unit_id)
    url = BASE + path.format(id=created["id"], unit=tenant.unit_id)
    body = calcom_body(tenant.unit_id) if method in ("POST", "PUT") else None
    response = await client.request(method, url, json=body)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await tenant.api.get(f"{BASE}/{created['id']}")).json() == created


# --- 9. members ----------------------------------------------------------------------------


async def test_a_member_can_create_update_and_delete(app: FastAPI, tenant: Tenant) -> None:
    _, token = await add_member(app, tenant, "joao@acme-clinics.test")
    async with tenant.client(token) as member:
        created = await member.post(BASE, json=calcom_body(tenant.unit_id))
        assert created.status_code == 201, created.text
        url = f"{BASE}/{created.json()['id']}"

        listed = await member.get(f"{BASE}/unit/{tenant.unit_id}")
        assert [i["id"] for i in listed.json()["data"]] == [created.json()["id"]]

        updated = await member.put(
            url, json=calcom_update_body(tenant.unit_id, title="Agenda", isActive=False)
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["title"], updated.json()["isActive"]) == ("Agenda", False)

        assert (await member.delete(url)).status_code == 204
    assert_problem(await tenant.api.get(url), 404)


# --- 10. deleting a bot --------------------------------------------------------------------


async def test_deleting_a_bot_unlinks_its_integration(tenant: Tenant) -> None:
    bot_id = await create_bot(tenant, tenant.unit_id)
    linked = await create(tenant.api, tenant.unit_id, botId=bot_id)
    other_bot = await create_bot(tenant, tenant.unit_id, name="Voice bot")
    untouched = await create(tenant.api, tenant.unit_id, botId=other_bot)

    assert (await tenant.api.delete(f"/api/v1/bots/{bot_id}")).status_code == 204

    response = await tenant.api.get(f"{BASE}/{linked['id']}")
    assert response.status_code == 200
    after = response.json()
    assert after["botId"] is None
    assert {k: v for k, v in after.items() if k not in ("botId", "updatedAt")} == {
        k: v for k, v in linked.items() if k not in ("botId", "updatedAt")
    }
    row = await stored(tenant.app, linked["id"])
    assert row is not None
    assert row.bot_id is None
    assert API_KEY.open(tenant.app.state.keyring, row) == CALCOM_API_KEY
    assert (await tenant.api.get(f"{BASE}/{untouched['id']}")).json()["botId"] == other_bot
