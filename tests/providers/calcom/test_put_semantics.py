"""Every applied PUT of an integration moves `updatedAt`, even one that changes nothing."""

from __future__ import annotations

import asyncio

from tests.factories import Tenant, calcom_body, calcom_update_body


async def test_a_put_that_changes_nothing_still_moves_updated_at(tenant: Tenant) -> None:
    created = (
        await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    ).json()
    await asyncio.sleep(0.005)
    updated = await tenant.api.put(
        f"/api/v1/calcom/integration/{created['id']}", json=calcom_update_body(tenant.unit_id)
    )
    assert updated.status_code == 200
    assert updated.json()["updatedAt"] > created["updatedAt"]
    assert updated.json()["createdAt"] == created["createdAt"]
