"""Idempotency keys (SPEC §4.3): one run per key, replays, conflicts, waits, takeovers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from agentcal.database import utcnow
from agentcal.errors import Conflict
from agentcal.runtime import idempotency
from agentcal.runtime.idempotency import IdempotencyConflict, arguments_hash, claim
from agentcal.runtime.models import IdempotencyRecord

RESULT = {"ok": True, "content": "Booked Monday 10:00."}


def test_the_hash_ignores_key_order_and_spacing() -> None:
    assert arguments_hash("t", {"a": 1, "b": [1, 2]}) == arguments_hash("t", {"b": [1, 2], "a": 1})
    assert arguments_hash("t", {"a": 1}) != arguments_hash("t", {"a": 2})
    assert arguments_hash("t", {"a": 1}) != arguments_hash("u", {"a": 1})


async def test_a_fresh_key_is_claimed_and_its_result_replayed(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-1", "h1")
    assert first.record_id is not None
    assert first.replay is None
    await idempotency.complete(sessions, first.record_id, RESULT)
    again = await claim(sessions, "bot:1", "call-1", "h1")
    assert again.record_id is None
    assert again.replay == RESULT


async def test_different_arguments_under_one_key_conflict(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-2", "h1")
    await idempotency.complete(sessions, first.record_id, RESULT)
    with pytest.raises(IdempotencyConflict) as raised:
        await claim(sessions, "bot:1", "call-2", "h2")
    assert raised.value.status_code == 409


async def test_scopes_do_not_share_keys(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    a = await claim(sessions, "bot:1", "same", "h1")
    b = await claim(sessions, "bot:2", "same", "h2")
    assert a.record_id is not None
    assert b.record_id is not None


async def test_a_repeat_waits_for_the_running_call_and_replays_it(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-3", "h1")
    repeat = asyncio.create_task(claim(sessions, "bot:1", "call-3", "h1", poll=0.01))
    await asyncio.sleep(0.1)
    assert not repeat.done()  # it waits, it does not run the call a second time
    await idempotency.complete(sessions, first.record_id, RESULT)
    assert (await repeat).replay == RESULT


async def test_ten_concurrent_calls_with_one_key_run_once(app: FastAPI) -> None:
    sessions = app.state.sessionmaker

    async def call() -> dict[str, object] | None:
        got = await claim(sessions, "bot:1", "call-4", "h1", poll=0.01)
        if got.record_id is None:
            return got.replay
        await asyncio.sleep(0.05)  # the provider call
        await idempotency.complete(sessions, got.record_id, RESULT)
        return None

    outcomes = await asyncio.gather(*(call() for _ in range(10)))
    assert outcomes.count(None) == 1  # exactly one ran
    assert outcomes.count(RESULT) == 9


async def test_a_released_claim_lets_the_repeat_run(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-5", "h1")
    await idempotency.release(sessions, first.record_id)
    again = await claim(sessions, "bot:1", "call-5", "h1")
    assert again.record_id is not None


async def test_a_claim_orphaned_by_a_dead_process_is_taken_over(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-6", "h1")
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == first.record_id)
            .values(created_at=utcnow() - timedelta(minutes=5))
        )
    again = await claim(sessions, "bot:1", "call-6", "h1", wait=1)
    assert again.record_id is not None
    assert again.record_id != first.record_id


async def test_a_running_call_that_outlasts_the_wait_is_a_conflict(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    await claim(sessions, "bot:1", "call-7", "h1")
    with pytest.raises(Conflict, match="still running"):
        await claim(sessions, "bot:1", "call-7", "h1", wait=0.1, poll=0.02)


async def test_expired_keys_are_purged_and_reusable(app: FastAPI) -> None:
    sessions = app.state.sessionmaker
    first = await claim(sessions, "bot:1", "call-8", "h1")
    await idempotency.complete(sessions, first.record_id, RESULT)
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    fresh = await claim(sessions, "bot:1", "call-8", "h2")  # past 24 h: a new call
    assert fresh.record_id is not None
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert await idempotency.purge_expired(session) == 1
        left = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert left == 0
