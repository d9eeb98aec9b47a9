"""The per-calendar lock around check-and-book: one booking per slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.engine import create_engine
from agentcal.db.locks import KeyedLocks, advisory_key, calendar_lock


async def _book_concurrently(
    n: int, guard: Callable[[], AbstractAsyncContextManager[None]]
) -> list[int]:
    """`n` callers check that the slot is free, think, then book it."""
    booked: list[int] = []

    async def caller(i: int) -> None:
        async with guard():
            if not booked:  # the re-check just before booking
                await asyncio.sleep(0.001)  # the provider call
                booked.append(i)

    await asyncio.gather(*(caller(i) for i in range(n)))
    return booked


async def test_without_a_lock_concurrent_callers_double_book() -> None:
    """The control: the race this lock exists for is real."""
    assert len(await _book_concurrently(50, lambda: nullcontext())) > 1


async def test_fifty_callers_of_one_calendar_book_once(engine: AsyncEngine) -> None:
    locks = KeyedLocks()
    booked = await _book_concurrently(
        50, lambda: calendar_lock(engine, locks, "google:ana@example.com")
    )
    assert len(booked) == 1


async def test_different_calendars_do_not_wait_for_each_other(engine: AsyncEngine) -> None:
    locks = KeyedLocks()
    async with calendar_lock(engine, locks, "google:a@example.com"):
        async with asyncio.timeout(2):
            async with calendar_lock(engine, locks, "google:b@example.com"):
                pass


@pytest.fixture
async def second_engine(database_url: str, backend: str) -> AsyncIterator[AsyncEngine]:
    if backend != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite is one process, locked in-process")
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_two_replicas_of_one_calendar_book_once(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    """Separate engines and lock registries: only the advisory lock is shared."""
    replicas = [(engine, KeyedLocks()), (second_engine, KeyedLocks())]
    booked: list[int] = []

    async def caller(i: int) -> None:
        db, locks = replicas[i % 2]
        async with calendar_lock(db, locks, "calcom:demo"):
            if not booked:
                await asyncio.sleep(0.01)
                booked.append(i)

    await asyncio.gather(*(caller(i) for i in range(20)))
    assert len(booked) == 1


def test_advisory_keys_are_stable_signed_64_bit() -> None:
    key = advisory_key("google:ana@example.com")
    assert key == advisory_key("google:ana@example.com")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("google:bob@example.com")
