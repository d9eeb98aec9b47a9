"""Idempotency keys: one run per key, replays, conflicts, waits, takeovers."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.db.engine import utcnow
from agentcal.errors import Conflict
from agentcal.runtime import idempotency
from agentcal.runtime.idempotency import Claim, IdempotencyConflict, arguments_hash
from agentcal.runtime.models import IdempotencyRecord
from tests.support import statements, wait_until

RESULT = {"ok": True, "content": "Booked Monday 10:00 with Ada (ada@example.com)."}
KEYRING = Keyring.from_text(generate_key())


@pytest.fixture
def sessions(app: FastAPI) -> Any:
    return app.state.sessionmaker


async def claim(engine: AsyncEngine, scope: str, key: str, args_hash: str, **options: Any) -> Claim:
    return await idempotency.claim(engine, KEYRING, scope, key, args_hash, **options)


async def complete(engine: AsyncEngine, record_id: Any, result: dict[str, Any]) -> None:
    async with engine.begin() as connection:
        await idempotency.complete(connection, KEYRING, record_id, result)


def key_lookups(engine: AsyncEngine) -> AbstractContextManager[list[str]]:
    """The statements that read the idempotency keys through `engine` meanwhile."""
    return statements(
        engine, lambda sql: sql.upper().startswith("SELECT") and "idempotency_keys" in sql
    )


def test_the_hash_ignores_key_order_and_spacing() -> None:
    def h(name: str, arguments: Any) -> str:
        return arguments_hash(KEYRING, name, arguments)

    assert h("t", {"a": 1, "b": [1, 2]}) == h("t", {"b": [1, 2], "a": 1})
    assert h("t", {"a": 1}) != h("t", {"a": 2})
    assert h("t", {"a": 1}) != h("u", {"a": 1})


def test_the_hash_is_keyed_so_a_guess_cannot_be_checked_without_the_key() -> None:
    arguments = {"attendeeEmail": "ada@example.com"}
    canonical = b'["t",{"attendeeEmail":"ada@example.com"}]'
    ours = arguments_hash(KEYRING, "t", arguments)
    assert ours != hashlib.sha256(canonical).hexdigest()  # not a plain hash
    other = Keyring.from_text(generate_key())
    assert arguments_hash(other, "t", arguments) != ours  # another key, another hash


async def test_a_hash_made_before_a_key_rotation_still_matches(
    sessions: Any, engine: AsyncEngine
) -> None:
    old_key, new_key = generate_key(), generate_key()
    before = Keyring.from_text(f"old:{old_key}")
    after = Keyring.from_text(f"new:{new_key},old:{old_key}")
    arguments = {"start": "2026-03-02T10:00"}
    first = await idempotency.claim(
        engine, before, "bot:r", "k", arguments_hash(before, "t", arguments)
    )
    async with engine.begin() as connection:
        await idempotency.complete(connection, before, first.record_id, RESULT)
    current, older = idempotency.fingerprints(after, "t", arguments)
    again = await idempotency.claim(engine, after, "bot:r", "k", current, also_matching=older)
    assert again.replay == RESULT


async def test_stored_results_are_sealed_not_in_clear(sessions: Any, engine: AsyncEngine) -> None:
    first = await claim(engine, "bot:s", "call-s", "h1")
    await complete(engine, first.record_id, RESULT)
    async with sessions() as session:
        row = await session.get(IdempotencyRecord, first.record_id)
    assert row is not None
    assert row.result_ciphertext is not None
    assert b"ada@example.com" not in row.result_ciphertext
    assert (await claim(engine, "bot:s", "call-s", "h1")).replay == RESULT


async def test_a_fresh_key_is_claimed_and_its_result_replayed(
    sessions: Any, engine: AsyncEngine
) -> None:
    first = await claim(engine, "bot:1", "call-1", "h1")
    assert first.record_id is not None
    assert first.replay is None
    await complete(engine, first.record_id, RESULT)
    again = await claim(engine, "bot:1", "call-1", "h1")
    assert again.record_id is None
    assert again.replay == RESULT


async def test_different_arguments_under_one_key_conflict(
    sessions: Any, engine: AsyncEngine
) -> None:
    first = await claim(engine, "bot:1", "call-2", "h1")
    await complete(engine, first.record_id, RESULT)
    with pytest.raises(IdempotencyConflict) as raised:
        await claim(engine, "bot:1", "call-2", "h2")
    assert raised.value.status_code == 409


async def test_scopes_do_not_share_keys(sessions: Any, engine: AsyncEngine) -> None:
    a = await claim(engine, "bot:1", "same", "h1")
    b = await claim(engine, "bot:2", "same", "h2")
    assert a.record_id is not None
    assert b.record_id is not None


async def test_a_repeat_waits_for_the_running_call_and_replays_it(
    sessions: Any, engine: AsyncEngine
) -> None:
    first = await claim(engine, "bot:1", "call-3", "h1")
    with key_lookups(engine) as lookups:
        repeat = asyncio.create_task(claim(engine, "bot:1", "call-3", "h1", poll=0.01))
        # It waits: it has found the key held by the running call, again and again...
        await wait_until(lambda: len(lookups) >= 3)
    assert not repeat.done()  # ...and it does not run the call a second time
    await complete(engine, first.record_id, RESULT)
    assert (await repeat).replay == RESULT


async def test_ten_concurrent_calls_with_one_key_run_once(
    sessions: Any, engine: AsyncEngine
) -> None:

    async def call() -> dict[str, object] | None:
        got = await claim(engine, "bot:1", "call-4", "h1", poll=0.01)
        if got.record_id is None:
            return got.replay
        await asyncio.sleep(0.05)  # the provider call
        await complete(engine, got.record_id, RESULT)
        return None

    outcomes = await asyncio.gather(*(call() for _ in range(10)))
    assert outcomes.count(None) == 1  # exactly one ran
    assert outcomes.count(RESULT) == 9


async def test_a_released_claim_lets_the_repeat_run(sessions: Any, engine: AsyncEngine) -> None:
    first = await claim(engine, "bot:1", "call-5", "h1")
    await idempotency.release(engine, first.record_id)
    again = await claim(engine, "bot:1", "call-5", "h1")
    assert again.record_id is not None


async def test_a_claim_orphaned_by_a_dead_process_is_taken_over(
    sessions: Any, engine: AsyncEngine
) -> None:
    first = await claim(engine, "bot:1", "call-6", "h1")
    async with sessions.begin() as session:  # its process died: no renewal came
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == first.record_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    again = await claim(engine, "bot:1", "call-6", "h1", wait=1)
    assert again.record_id is not None
    assert again.record_id != first.record_id
    assert again.resumed  # its handler must look for what the dead call may have done
    assert not first.resumed


async def test_a_running_call_that_outlasts_the_wait_is_a_conflict(
    sessions: Any, engine: AsyncEngine
) -> None:
    await claim(engine, "bot:1", "call-7", "h1")
    with pytest.raises(Conflict, match="still running"):
        await claim(engine, "bot:1", "call-7", "h1", wait=0.1, poll=0.02)


async def test_expired_keys_are_purged_and_reusable(sessions: Any, engine: AsyncEngine) -> None:
    first = await claim(engine, "bot:1", "call-8", "h1")
    await complete(engine, first.record_id, RESULT)
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    fresh = await claim(engine, "bot:1", "call-8", "h2")  # past 24 h: a new call
    assert fresh.record_id is not None
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert await idempotency.purge_expired(connection) == 1
        left = await connection.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert left == 0
