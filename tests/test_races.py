"""Concurrent requests on one object: a write racing a DELETE never becomes a 500."""

from __future__ import annotations

import asyncio

from tests.factories import Tenant, calcom_body, calcom_update_body, google_function_body


async def test_puts_racing_a_delete_of_an_integration_answer_200_or_404(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    url = f"/api/v1/calcom/integration/{created.json()['id']}"
    body = calcom_update_body(tenant.unit_id, title="Racing")
    clients = [tenant.client() for _ in range(21)]
    answers = await asyncio.gather(
        *(c.put(url, json=body) for c in clients[:20]), clients[20].delete(url)
    )
    statuses = sorted({a.status_code for a in answers})
    assert set(statuses) <= {200, 204, 404}, [a.text for a in answers if a.status_code >= 500]
    assert (await tenant.api.get(url)).status_code == 404


async def test_puts_and_duplicates_racing_a_delete_of_a_function_never_500(
    tenant: Tenant,
) -> None:
    body = google_function_body(tenant.user_id, tenant.unit_id)
    created = await tenant.api.post("/api/v1/functions/", json=body)
    function_id = created.json()["id"]
    update = google_function_body(tenant.user_id, tenant.unit_id, name="Racing")
    clients = [tenant.client() for _ in range(21)]
    answers = await asyncio.gather(
        *(c.put(f"/api/v1/functions/{function_id}", json=update) for c in clients[:10]),
        *(c.post(f"/api/v1/functions/duplicate/{function_id}") for c in clients[10:20]),
        clients[20].delete(f"/api/v1/functions/{function_id}"),
    )
    statuses = {a.status_code for a in answers}
    assert statuses <= {200, 201, 204, 404}, [a.text for a in answers if a.status_code >= 500]
    # Every copy that was made is whole: it has its plugin, and it reads back.
    listed = await tenant.api.get("/api/v1/functions/", params={"limit": 200})
    for function in listed.json()["data"]:
        assert len(function["googleCalendarPlugin"]) == 1
