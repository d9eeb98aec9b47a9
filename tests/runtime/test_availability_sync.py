"""Availability answers kept in step across PostgreSQL replicas.

Two replicas (`agentcal serve` processes, each with its own availability cache, which
would keep an answer 30 s): a booking made through one must empty the other's answers
for that calendar at once (the booking's transaction sends `NOTIFY
agentcal_availability`), and a replica whose listening connection was cut empties all
of its answers when it is back, since it may have missed some.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.providers.availability import CHANNEL
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import count_requests
from tests.runtime.support import CHECK, bot_with_own_calcom_user
from tests.servers import replica_clients, replica_env, running_replicas
from tests.support import next_monday, wait_until

PROMPT = 3.0  # seconds within which a change must show on the other replica
SLOTS = "/calcom/v2/slots"


@pytest.fixture(scope="module")
def replica_urls(
    backend: str, engine: AsyncEngine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two `agentcal serve` processes on the suite's database: processes, not apps in
    this one, whose tool calls would empty the availability caches here directly."""
    if backend != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite is one process (its bookings empty it)")
    env = replica_env(
        settings,
        AGENTCAL_NOTIFICATIONS_WORKER="false",
        AGENTCAL_AVAILABILITY_FRESH_SECONDS="30",
    )
    with running_replicas(env, tmp_path_factory) as urls:
        yield urls[0], urls[1]


@pytest.fixture
async def clients(
    replica_urls: tuple[str, str], tenant: Tenant
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with replica_clients(replica_urls, tenant.token) as both:
        yield both


async def _call(
    client: httpx.AsyncClient, bot_id: str, name: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    call = {"id": f"s-{uuid.uuid4().hex[:8]}", "name": name, "arguments": arguments}
    response = await client.post(f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


async def _check(client: httpx.AsyncClient, bot_id: str) -> dict[str, Any]:
    result = await _call(client, bot_id, CHECK, {"startDate": next_monday().isoformat()})
    assert result["ok"] is True, result
    return result


def _starts(result: dict[str, Any]) -> set[str]:
    return {slot["start"] for slot in result["data"]["slots"]}


async def test_a_booking_through_one_replica_empties_the_other_s_answers_at_once(
    tenant: Tenant, sandbox: SandboxServer, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    first, second = clients
    bot_id, _, _ = await bot_with_own_calcom_user(tenant, sandbox)
    slots = count_requests(sandbox, "GET", SLOTS)
    ten = f"{next_monday().isoformat()}T10:00:00-03:00"
    kept = await _check(second, bot_id)
    assert ten in _starts(kept)
    assert (await _check(second, bot_id))["data"]["asOf"] == kept["data"]["asOf"]
    assert slots() == 1  # the second replica keeps its answer

    book = CHECK.replace("check_availability", "create_booking")
    booked = await _call(
        first,
        bot_id,
        book,
        {
            "start": f"{next_monday().isoformat()}T10:00",
            "attendeeName": "Maria Silva",
            "attendeeEmail": "maria@example.com",
        },
    )
    assert booked["ok"] is True, booked

    async def gone() -> bool:
        return ten not in _starts(await _check(second, bot_id))

    await wait_until(gone, timeout=PROMPT, interval=0.05)


async def test_a_replica_back_from_a_lost_connection_empties_every_answer(
    tenant: Tenant,
    sandbox: SandboxServer,
    clients: tuple[httpx.AsyncClient, ...],
    engine: AsyncEngine,
) -> None:
    _, second = clients
    bot_id, _, _ = await bot_with_own_calcom_user(tenant, sandbox)
    slots = count_requests(sandbox, "GET", SLOTS)
    await _check(second, bot_id)
    await _check(second, bot_id)
    assert slots() == 1
    async with engine.begin() as connection:
        cut = await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = :listen AND pid <> pg_backend_pid()"
            ),
            {"listen": f'LISTEN "{CHANNEL}"'},
        )
        assert len(cut.all()) >= 2  # both replicas' (and this process's) listeners

    async def asked_again() -> bool:
        await _check(second, bot_id)
        return slots() > 1

    await wait_until(asked_again, timeout=PROMPT, interval=0.05)
