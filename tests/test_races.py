"""Concurrent requests on one object: a write racing a DELETE never becomes a 500.

A round counts as a race only if some writes were being handled while the DELETE was
(recorded around the app, not inferred) and the DELETE landed among the writes: some of
them answered 200/201 and some 404. Rounds are repeated, with a fresh object each, until
one raced; a test whose writes never overlapped the DELETE fails instead of passing on
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.factories import Tenant, calcom_body, calcom_update_body, google_function_body
from tests.support import InFlight

ROUNDS = 10  # each round's interleaving is up to the event loop: try again, bounded


async def _race(
    tenant: Tenant,
    create: Callable[[], Awaitable[str]],
    writes: Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]],
    delete: Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]],
) -> set[int]:
    """Race 20 writes with one DELETE issued among them until the DELETE lands between
    writes, while some of them are being handled; every status seen over the rounds.

    Every round, each answer must agree with the order the app handled the requests in
    (recorded by `InFlight`): a write that was answered before the DELETE began found the
    object, one that began after the DELETE had answered (it commits before answering)
    did not."""
    seen: set[int] = set()
    overlapped = 0
    for _ in range(ROUNDS):
        ident = await create()
        recorder = InFlight(tenant.app)
        clients = [recorder.client(tenant.token, f"write-{i}") for i in range(20)]
        deleting = recorder.client(tenant.token, "delete")
        answers = await asyncio.gather(
            *(writes(c, ident) for c in clients[:10]),
            delete(deleting, ident),
            *(writes(c, ident) for c in clients[10:20]),
        )
        statuses = {a.status_code for a in answers}
        seen |= statuses
        assert not any(s >= 500 for s in statuses), [
            a.text for a in answers if a.status_code >= 500
        ]
        deleted = answers.pop(10)
        assert deleted.status_code == 204, deleted.text
        gone = recorder.of(deleted)
        for answer in answers:
            request = recorder.of(answer)
            if request.ended < gone.began:
                assert answer.status_code in (200, 201), (request, answer.text)
            elif request.began > gone.ended:
                assert answer.status_code == 404, (request, answer.text)
            else:
                assert request.overlaps(gone)
                assert answer.status_code in (200, 201, 404), (request, answer.text)
        racing = [recorder.of(a) for a in answers if recorder.of(a).overlaps(gone)]
        overlapped += bool(racing)
        written = [a.status_code for a in answers]
        if racing and any(s in (200, 201) for s in written) and 404 in written:
            assert recorder.most >= 2
            return seen
    raise AssertionError(
        f"no round raced the DELETE with the writes ({overlapped} of {ROUNDS} rounds had a "
        f"write in flight during the DELETE); statuses seen: {seen}"
    )


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
