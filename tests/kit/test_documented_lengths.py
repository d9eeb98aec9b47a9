"""What the API document says of text fields is what the API accepts: blanks that mean
"not set", trimmed text that needs a character, patterns."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from agentcal.kit.validation import _EMAIL, is_email
from tests.factories import Tenant, calcom_body


async def _schemas(client: httpx.AsyncClient) -> dict[str, Any]:
    schemas: dict[str, Any] = (await client.get("/openapi.json")).json()["components"]["schemas"]
    return schemas


async def test_a_blank_description_is_documented_and_stored_as_unset(tenant: Tenant) -> None:
    description = (await _schemas(tenant.api))["BotWrite"]["properties"]["description"]
    text, blank, null = description["anyOf"]
    assert (text["minLength"], text["maxLength"], null) == (1, 4000, {"type": "null"})
    assert re.search(blank["pattern"], " \t\u3000")
    assert not re.search(blank["pattern"], " x ")
    made = await tenant.api.post(
        "/api/v1/bots", json={"name": "Reception", "unitId": tenant.unit_id, "description": "x"}
    )
    assert made.status_code == 201, made.text
    body = {"name": "Reception", "unitId": tenant.unit_id, "description": ""}
    updated = await tenant.api.put(f"/api/v1/bots/{made.json()['id']}", json=body)
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] is None
    too_long = {**body, "description": "d" * 4001}
    refused = await tenant.api.put(f"/api/v1/bots/{made.json()['id']}", json=too_long)
    assert refused.status_code == 422


async def test_a_required_name_of_spaces_is_documented_and_refused(tenant: Tenant) -> None:
    name = (await _schemas(tenant.api))["BotWrite"]["properties"]["name"]
    assert name["minLength"] == 1
    assert re.search(name["pattern"], "   ") is None
    response = await tenant.api.post("/api/v1/bots", json={"name": "   ", "unitId": tenant.unit_id})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


async def test_patterns_are_documented_as_enforced(tenant: Tenant) -> None:
    schema = (await _schemas(tenant.api))["IntegrationCreate"]["properties"]
    pattern = schema["calcomUsername"]["pattern"]
    assert re.search(pattern, " dr-ana ")
    assert not re.search(pattern, "dr ana")
    for username, status in ((" dr-ana ", 201), ("dr ana", 422)):
        body = calcom_body(tenant.unit_id, calcomUsername=username)
        response = await tenant.api.post("/api/v1/calcom/integration", json=body)
        assert response.status_code == status, (username, response.text)


async def test_text_longer_than_its_maximum_is_refused_even_if_spaces_would_trim_it(
    tenant: Tenant,
) -> None:
    padded = "Reception" + " " * 120  # 129 characters sent, 9 once trimmed
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": padded, "unitId": tenant.unit_id}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"
    fits = await tenant.api.post(
        "/api/v1/bots", json={"name": padded[:120], "unitId": tenant.unit_id}
    )
    assert fits.status_code == 201
    assert fits.json()["name"] == "Reception"


async def test_an_integer_written_with_a_zero_fraction_is_that_integer(tenant: Tenant) -> None:
    made = await tenant.api.post(
        "/api/v1/access-tokens", json={"name": "ci", "expiresInDays": 30.0}
    )
    assert made.status_code == 201, made.text
    for refused in (30.5, "30", True):
        response = await tenant.api.post(
            "/api/v1/access-tokens", json={"name": "ci", "expiresInDays": refused}
        )
        assert response.status_code == 422, refused


@pytest.mark.parametrize(
    "address", ["ana\x1f@clinic.example", "ana@clinic\x85.example", "\ufeffana@clinic.example"]
)
def test_an_email_with_a_control_or_invisible_character_is_refused_by_both_regex_dialects(
    address: str,
) -> None:
    # The document's pattern, read as Python reads it, refuses what the API refuses.
    assert not is_email(address)
    assert re.fullmatch(_EMAIL, address) is None
