"""Concurrent requests on one object: a write racing a DELETE never becomes a 500.

A round counts as a race only if the DELETE landed among the writes: some of them
answered before it (200/201) and some after (404). Rounds are repeated, with a fresh
object each, until one raced; a test whose writes never overlapped the DELETE fails
instead of passing on nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.factories import Tenant, calcom_body, calcom_update_body, google_function_body

ROUNDS = 10  # each round's interleaving is up to the event loop: try again, bounded


async def _race(
    tenant: Tenant,
    create: Callable[[], Awaitable[str]],
    writes: Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]],
    delete: Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]],
) -> set[int]:
    """Race 20 writes with one DELETE issued among them until the DELETE lands between
    writes; every status seen over the rounds."""
    seen: set[int] = set()
    clients = [tenant.client() for _ in range(21)]
    for _ in range(ROUNDS):
        ident = await create()
        answers = await asyncio.gather(
            *(writes(c, ident) for c in clients[:10]),
            delete(clients[20], ident),
            *(writes(c, ident) for c in clients[10:20]),
        )
        statuses = {a.status_code for a in answers}
        seen |= statuses
        assert not any(s >= 500 for s in statuses), [
            a.text for a in answers if a.status_code >= 500
        ]
        written = [a.status_code for i, a in enumerate(answers) if i != 10]
        if any(s in (200, 201) for s in written) and 404 in written:
            return seen
    raise AssertionError(f"no round raced the DELETE with the writes; statuses seen: {seen}")


async def test_puts_racing_a_delete_of_an_integration_answer_200_or_404(tenant: Tenant) -> None:
    body = calcom_update_body(tenant.unit_id, title="Racing")

    async def create() -> str:
        created = await tenant.api.post(
            "/api/v1/calcom/integration", json=calcom_body(tenant.unit_id)
        )
        assert created.status_code == 201, created.text
        ident: str = created.json()["id"]
        return ident

    seen = await _race(
        tenant,
        create,
        lambda c, ident: c.put(f"/api/v1/calcom/integration/{ident}", json=body),
        lambda c, ident: c.delete(f"/api/v1/calcom/integration/{ident}"),
    )
    assert seen <= {200, 204, 404}
    listed = await tenant.api.get(f"/api/v1/calcom/integration/unit/{tenant.unit_id}")
    assert listed.json()["data"] == [], "every raced integration is deleted in the end"


async def test_puts_and_duplicates_racing_a_delete_of_a_function_never_500(
    tenant: Tenant,
) -> None:
    update = google_function_body(tenant.user_id, tenant.unit_id, name="Racing")
    turn = 0

    async def create() -> str:
        body = google_function_body(tenant.user_id, tenant.unit_id)
        created = await tenant.api.post("/api/v1/functions/", json=body)
        assert created.status_code == 201, created.text
        ident: str = created.json()["id"]
        return ident

    async def write(client: httpx.AsyncClient, ident: str) -> httpx.Response:
        nonlocal turn
        turn += 1
        if turn % 2:
            return await client.put(f"/api/v1/functions/{ident}", json=update)
        return await client.post(f"/api/v1/functions/duplicate/{ident}")

    seen = await _race(
        tenant, create, write, lambda c, ident: c.delete(f"/api/v1/functions/{ident}")
    )
    assert seen <= {200, 201, 204, 404}
    # Every copy that was made is whole: it has its plugin, and it reads back.
    listed = await tenant.api.get("/api/v1/functions/", params={"limit": 200})
    for function in listed.json()["data"]:
        assert len(function["googleCalendarPlugin"]) == 1
