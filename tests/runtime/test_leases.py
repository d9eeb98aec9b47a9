"""Idempotency claims are leases: renewed while their call runs, taken over once lapsed.

The lease is shortened here (fractions of a second) so that the tests wait little;
tests/test_processes.py kills a real server and sees its claim taken over with the
lease agentcal ships.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.db.engine import utcnow
from agentcal.errors import Conflict
from agentcal.runtime import idempotency
from agentcal.runtime.idempotency import Claim, IdempotencyConflict, Lease
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom, count_requests
from tests.support import next_monday, statements, wait_until

RESULT = {"ok": True, "content": "Booked."}
KEYRING = Keyring.from_text(generate_key())
LEASE = 0.4  # seconds
RENEW = 0.05


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "LEASE_FOR", timedelta(seconds=LEASE))
    monkeypatch.setattr(idempotency, "RENEW_EVERY", RENEW)


async def claim(engine: AsyncEngine, key: str, args_hash: str = "h", **options: Any) -> Claim:
    return await idempotency.claim(engine, KEYRING, "bot:lease", key, args_hash, **options)


def renewals(engine: AsyncEngine) -> AbstractContextManager[list[str]]:
    """The lease renewals (UPDATEs of the keys) sent through `engine` meanwhile."""
    return statements(engine, lambda sql: sql.upper().startswith("UPDATE IDEMPOTENCY_KEYS"))


async def _lease_end(engine: AsyncEngine, record_id: Any) -> datetime:
    async with engine.connect() as connection:
        end: datetime | None = await connection.scalar(
            select(IdempotencyRecord.lease_expires_at).where(IdempotencyRecord.id == record_id)
        )
    assert end is not None
    return end


async def test_a_claim_holds_a_lease_from_the_start(engine: AsyncEngine) -> None:
    got = await claim(engine, "fresh")
    end = await _lease_end(engine, got.record_id)
    # The database's clock on PostgreSQL, this process's on SQLite: the same machine here.
    assert abs(end - (utcnow() + idempotency.LEASE_FOR)) < timedelta(seconds=2)


async def test_a_call_that_ends_before_the_first_renewal_writes_none(
    engine: AsyncEngine,
) -> None:
    """The common case costs no statement: a timer, cancelled."""
    got = await claim(engine, "quick")
    assert got.record_id is not None
    with renewals(engine) as sent:
        lease = Lease(engine, got.record_id)
        await lease.stop()
    assert sent == []


async def test_a_long_call_renews_its_lease_until_stopped(
    engine: AsyncEngine, short_lease: None
) -> None:
    got = await claim(engine, "long")
    assert got.record_id is not None
    first_end = await _lease_end(engine, got.record_id)
    with renewals(engine) as sent:
        lease = Lease(engine, got.record_id)
        try:
            await wait_until(lambda: len(sent) >= 3)
        finally:
            await lease.stop()
        stopped_at = len(sent)
    assert await _lease_end(engine, got.record_id) > first_end
    assert stopped_at >= 3


async def test_a_repeat_of_a_live_call_longer_than_its_lease_waits_and_replays_it(
    engine: AsyncEngine, short_lease: None
) -> None:
    got = await claim(engine, "live")
    assert got.record_id is not None
    lease = Lease(engine, got.record_id)
    started = time.monotonic()
    with renewals(engine) as sent:
        repeat = asyncio.create_task(claim(engine, "live", poll=0.01))
        # Renewed again and again, for more than a lease's length...
        await wait_until(lambda: len(sent) >= 3 and time.monotonic() - started > 2 * LEASE)
    assert not repeat.done()  # ...the repeat still waits: the call is alive
    async with engine.begin() as connection:
        await idempotency.complete(connection, KEYRING, got.record_id, RESULT)
    await lease.stop()
    again = await repeat
    assert again.replay == RESULT
    assert again.record_id is None


async def test_a_claim_whose_lease_lapses_is_taken_over_as_resumed(
    engine: AsyncEngine, short_lease: None
) -> None:
    """Its process died: no lease keeps it, so a waiting repeat takes it over."""
    started = time.monotonic()
    dead = await claim(engine, "dead")
    taken = await claim(engine, "dead", poll=0.01, wait=10)
    assert time.monotonic() - started >= LEASE
    assert taken.record_id is not None
    assert taken.record_id != dead.record_id
    assert taken.resumed
    assert not dead.resumed


async def test_of_repeats_racing_for_a_lapsed_claim_one_wins_and_it_resumes(
    engine: AsyncEngine,
) -> None:
    """The takeover is one statement: no repeat can claim the key between another's
    taking it over and claiming it, and run the call as if nothing had been done."""
    for round_ in range(10):
        key = f"race-{round_}"
        dead = await claim(engine, key)
        async with engine.begin() as connection:
            await connection.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == dead.record_id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        answers = await asyncio.gather(
            *(claim(engine, key, poll=0.01, wait=0.2) for _ in range(3)), return_exceptions=True
        )
        winners = [a for a in answers if isinstance(a, Claim)]
        assert len(winners) == 1, answers
        assert winners[0].resumed
        assert winners[0].record_id not in (None, dead.record_id)
        assert all(isinstance(a, Conflict) for a in answers if a is not winners[0])


async def test_a_dead_claim_is_not_taken_over_by_other_arguments(
    engine: AsyncEngine,
) -> None:
    got = await claim(engine, "other-args", "h1")
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == got.record_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(IdempotencyConflict):
        await claim(engine, "other-args", "h2")


@pytest.mark.parametrize("age", [timedelta(0), timedelta(minutes=5)])
async def test_a_claim_without_a_lease_is_judged_by_its_age(
    engine: AsyncEngine, age: timedelta
) -> None:
    """Made by a version without leases (a rolling upgrade): taken over once it is
    older than any call can run, as before."""
    got = await claim(engine, "unleased")
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == got.record_id)
            .values(lease_expires_at=None, created_at=utcnow() - age)
        )
    if not age:
        with pytest.raises(Conflict, match="still running"):
            await claim(engine, "unleased", wait=0.1, poll=0.02)
        return
    taken = await claim(engine, "unleased", wait=1)
    assert taken.resumed


async def test_a_tool_call_longer_than_its_lease_is_waited_for_not_taken_over(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI, short_lease: None
) -> None:
    """Through the runtime: Cal.com makes the booking and takes over three leases to
    answer; the repeat, sent meanwhile, waits and replays the answer. Taken over, it
    would have run (looked for its booking at Cal.com) and been recorded twice."""
    bot_id, _, names = await bot_with_calcom(tenant)
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), delay_after_ms=1200)
    )
    lookups = count_requests(sandbox, "GET", "/calcom/v2/bookings")
    arguments = {
        "start": f"{next_monday().isoformat()}T11:00",
        "attendeeName": "Maria Silva",
        "attendeeEmail": "maria@example.com",
    }
    call = {"id": "slow", "name": names["create_booking"], "arguments": arguments}

    async def send() -> dict[str, Any]:
        response = await tenant.api.post(
            f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    first = asyncio.create_task(send())
    await wait_until(lambda: len(sandbox.calcom.bookings) == 1)  # booked, not yet answered
    started = time.monotonic()
    repeat = await send()
    assert time.monotonic() - started > LEASE  # it waited out more than a lease
    original = await first
    assert original["ok"] is True, original
    assert repeat == original
    assert lookups() == 0
    assert len(sandbox.calcom.bookings) == 1
    async with app.state.sessionmaker() as session:
        records = list(
            await session.scalars(select(ToolCallRecord).where(ToolCallRecord.call_id == "slow"))
        )
    assert len(records) == 1
