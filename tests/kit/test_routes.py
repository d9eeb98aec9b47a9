"""Request bodies are JSON as the standard has it: `NaN` and `Infinity` are refused."""

from __future__ import annotations

import pytest

from tests.factories import Tenant

HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_a_non_json_number_is_a_422_naming_it_and_nothing_is_stored(
    tenant: Tenant, constant: str
) -> None:
    body = f'{{"name": "Voice", "unitId": "{tenant.unit_id}", "description": {constant}}}'
    response = await tenant.api.post("/api/v1/bots", content=body, headers=HEADERS)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "description", "message": response.json()["errors"][0]["message"]}
    ]
    assert "NaN and Infinity are not JSON" in response.json()["detail"]
    listed = await tenant.api.get("/api/v1/bots")
    assert listed.json()["data"] == []


async def test_tool_call_arguments_refuse_them_too(tenant: Tenant) -> None:
    created = await tenant.api.post(
        "/api/v1/bots", json={"name": "Voice", "unitId": tenant.unit_id}
    )
    assert created.status_code == 201, created.text
    body = '{"toolCalls": [{"name": "check_availability_x", "arguments": {"n": NaN}}]}'
    response = await tenant.api.post(
        f"/api/v1/bots/{created.json()['id']}/tool-calls", content=body, headers=HEADERS
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "toolCalls[0].arguments.n"


async def test_ordinary_numbers_and_null_still_pass(tenant: Tenant) -> None:
    body = f'{{"name": "Voice", "unitId": "{tenant.unit_id}", "description": null}}'
    response = await tenant.api.post("/api/v1/bots", content=body, headers=HEADERS)
    assert response.status_code == 201, response.text
