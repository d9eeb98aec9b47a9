"""One slot, fifty concurrent bookings, two replicas: exactly one booking.

Two agentcal replicas are served on loopback sockets, each in its own thread and event
loop with its own lifespan: its own engine and pool, calendar lock registry, caches and
provider clients. They share what real replicas share: the database, the keyring, and
the providers (the sandbox). So the only thing that can stop them from booking one slot
twice is the calendar's lock shared through the database: PostgreSQL's advisory lock,
or the file lock next to a SQLite database (tests/test_processes.py races two real
worker processes on it).

Both replicas are warmed up first (a check_availability each), as replicas in service
are, so their first bookings start together. The sandbox then slows the re-check (Cal.com's
slots, Google's freeBusy) and the booking itself, so that without a lock shared by the
replicas each replica's first call sees the slot free and books it. With the lock, only one
call gets as far as booking, so the slow booking is paid once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.runtime.models import ToolCallRecord
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.sandbox.faults import Fault
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant, calcom_body
from tests.providers.google_calendar.functions_support import (
    link_google_function,
    make_bot,
)
from tests.servers import serve_in_thread
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CALLS = 50
# Each loser pays the re-check under the lock, one after another: keep it short.
RECHECK_LATENCY_MS = 40
# The winner pays this once; without a shared lock, it is the window in which the other
# replica's re-check still sees the slot free.
BOOKING_LATENCY_MS = 300


@pytest.fixture(scope="module")
def replica_urls(
    engine: AsyncEngine, settings: Settings, keyring: Keyring
) -> Iterator[tuple[str, str]]:
    """Two replicas on one database; `engine` has migrated it."""
    with (
        serve_in_thread(create_app(settings, keyring=keyring), lifespan=True) as first,
        serve_in_thread(create_app(settings, keyring=keyring), lifespan=True) as second,
    ):
        yield first, second


@pytest.fixture
async def replicas(
    replica_urls: tuple[str, str], tenant: Tenant
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A client per replica, with the tenant's token (the tenant is made by a third app)."""
    headers = {"Authorization": f"Bearer {tenant.token}"}
    async with (
        httpx.AsyncClient(base_url=replica_urls[0], headers=headers, timeout=60) as first,
        httpx.AsyncClient(base_url=replica_urls[1], headers=headers, timeout=60) as second,
    ):
        yield [first, second]


def _slow_and_counted(
    sandbox: SandboxServer, method: str, path_prefix: str, latency_ms: int
) -> Callable[[], int]:
    """Slow the `method` requests under `path_prefix` down; how many reach the sandbox
    from now on (the sandbox counts the rule's `times` down)."""
    start = 1_000_000
    rule = Fault(
        path_prefix=path_prefix, methods=frozenset({method}), latency_ms=latency_ms, times=start
    )
    sandbox.state.faults.rules.append(rule)
    return lambda: start - rule.times


async def _warm_up(replicas: list[httpx.AsyncClient], bot_id: str, tool: str, day: date) -> None:
    """A check_availability on each replica: tokens, catalog, provider connections cached."""
    for i, replica in enumerate(replicas):
        call = {"id": f"warm-up-{i}", "name": tool, "arguments": {"startDate": day.isoformat()}}
        response = await replica.post(
            f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["ok"] is True, response.text


async def _race(
    replicas: list[httpx.AsyncClient], bot_id: str, tool: str, start: str
) -> list[dict[str, Any]]:
    """`CALLS` bookings of one slot at once, alternating replicas, each its own call and
    attendee; the results in call order."""

    def call(i: int) -> dict[str, Any]:
        arguments = {
            "start": start,
            "attendeeName": f"Racer {i}",
            "attendeeEmail": f"racer-{i}@example.com",
        }
        return {"id": f"race-{i}", "name": tool, "arguments": arguments}

    responses = await asyncio.gather(
        *(
            replicas[i % 2].post(f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call(i)]})
            for i in range(CALLS)
        )
    )
    for response in responses:
        assert response.status_code == 200, response.text
    return [r.json()["results"][0] for r in responses]


def _one_winner(results: list[dict[str, Any]]) -> tuple[int, str]:
    """The index and booking id of the only successful call; every other slot_unavailable."""
    won = [(i, r["data"]["bookingId"]) for i, r in enumerate(results) if r["ok"]]
    codes = [r["error"]["code"] for r in results if not r["ok"]]
    assert len(won) == 1, won
    assert codes == ["slot_unavailable"] * (CALLS - 1)
    return won[0]


async def _audit_matches(app: FastAPI, bot_id: str, winner: int, booking_id: str) -> None:
    """The replicas recorded every booking call: one booked, the rest slot_unavailable."""
    async with app.state.sessionmaker() as session:
        records = list(
            await session.scalars(
                select(ToolCallRecord).where(
                    ToolCallRecord.bot_id == uuid.UUID(bot_id),
                    ToolCallRecord.action == "create_booking",
                )
            )
        )
    assert sorted(r.call_id or "" for r in records) == sorted(f"race-{i}" for i in range(CALLS))
    ok = [(r.call_id, r.provider_booking_id) for r in records if r.outcome == "ok"]
    assert ok == [(f"race-{winner}", booking_id)]
    assert sum(r.outcome == "slot_unavailable" for r in records) == CALLS - 1


async def _calcom_bot(tenant: Tenant) -> str:
    """A bot with the Cal.com demo user linked as "Dr Ana" (tools `…_dr_ana`); its id."""
    bot_id = await make_bot(tenant)
    body = calcom_body(
        tenant.unit_id,
        title="Dr Ana",
        apiKey=DEMO_API_KEY,
        calcomUsername=DEMO_USERNAME,
        botId=bot_id,
        defaultEventTypeSlug="30min",
    )
    created = await tenant.api.post("/api/v1/calcom/integration", json=body)
    assert created.status_code == 201, created.text
    return bot_id


async def test_fifty_bookings_of_one_calcom_slot_across_two_replicas_give_one_booking(
    tenant: Tenant, sandbox: SandboxServer, replicas: list[httpx.AsyncClient], app: FastAPI
) -> None:
    bot_id = await _calcom_bot(tenant)
    monday = next_monday()
    await _warm_up(replicas, bot_id, "check_availability_dr_ana", monday)
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/slots", latency_ms=RECHECK_LATENCY_MS, times=-1)
    )
    # Cal.com itself refuses a taken slot (409), so one booking alone would not show
    # that the replicas shared a lock: with it, only one call gets as far as booking.
    bookings_sent = _slow_and_counted(sandbox, "POST", "/calcom/v2/bookings", BOOKING_LATENCY_MS)

    results = await _race(replicas, bot_id, "create_booking_dr_ana", f"{monday}T14:00")

    sent = bookings_sent()
    assert sent == 1, f"{sent} calls got as far as booking in Cal.com"
    winner, booking_id = _one_winner(results)
    start = datetime.fromisoformat(f"{monday}T14:00").replace(tzinfo=SAO_PAULO)
    assert [(b.uid, b.start, b.attendee["email"]) for b in sandbox.calcom.bookings.values()] == [
        (booking_id, start, f"racer-{winner}@example.com")
    ]
    await _audit_matches(app, bot_id, winner, booking_id)


async def _google_bot(tenant: Tenant, sandbox: SandboxServer) -> tuple[str, str]:
    """A Google Calendar function "Dr Ana" (tools `…_dr_ana`) on a fresh sandbox account,
    linked to a bot; the bot's id and the calendar's."""
    bot_id = await make_bot(tenant)
    account, _ = await link_google_function(tenant, sandbox, bot_id)
    return bot_id, account.email


async def test_fifty_bookings_of_one_google_slot_across_two_replicas_give_one_event(
    tenant: Tenant, sandbox: SandboxServer, replicas: list[httpx.AsyncClient], app: FastAPI
) -> None:
    bot_id, calendar_id = await _google_bot(tenant, sandbox)
    monday = next_monday()
    await _warm_up(replicas, bot_id, "check_availability_dr_ana", monday)
    # Google accepts overlapping events: only agentcal's lock keeps this to one event.
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/google/calendar/v3/freeBusy", latency_ms=RECHECK_LATENCY_MS, times=-1)
    )
    inserts_sent = _slow_and_counted(
        sandbox, "POST", f"/google/calendar/v3/calendars/{calendar_id}/events", BOOKING_LATENCY_MS
    )

    results = await _race(replicas, bot_id, "create_booking_dr_ana", f"{monday}T14:00")

    events = sandbox.google.calendars[calendar_id].events.values()
    live = [e for e in events if e.get("status") != "cancelled"]
    assert len(live) == 1, f"{len(live)} events booked: {[e['id'] for e in live]}"
    winner, booking_id = _one_winner(results)
    assert [(e["id"], [a["email"] for a in e["attendees"]]) for e in live] == [
        (booking_id, [f"racer-{winner}@example.com"])
    ]
    assert inserts_sent() == 1
    await _audit_matches(app, bot_id, winner, booking_id)
