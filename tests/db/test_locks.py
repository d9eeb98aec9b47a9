"""The per-calendar lock around check-and-book: one booking per slot, in one process
and across processes (an advisory lock on PostgreSQL, a file lock on SQLite)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db import locks as locks_module
from agentcal.db.engine import create_engine, sqlite_file
from agentcal.db.locks import KeyedLocks, advisory_key, calendar_lock, lock_directory
from tests.support import wait_until


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
async def second_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_two_replicas_of_one_calendar_book_once(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    """Separate engines and lock registries: only the lock shared through the database
    (PostgreSQL's advisory lock, the SQLite file's lock file) keeps them apart."""
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


# A process that takes a calendar's lock as agentcal does, says so, and holds it until
# its standard input closes (or it is killed).
_HOLDER = """
import asyncio, sys
from agentcal.db.engine import create_engine
from agentcal.db.locks import KeyedLocks, calendar_lock

async def main() -> None:
    engine = create_engine(sys.argv[1])
    async with calendar_lock(engine, KeyedLocks(), sys.argv[2]):
        print("held", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


async def test_a_lock_held_by_another_process_is_waited_for_and_freed_when_it_is_killed(
    engine: AsyncEngine, database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: `serve --workers 2`, or a crash. The kernel drops a killed process's lock."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's advisory lock is tested across replicas above")
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        database_url,
        "google:held@example.com",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
        attempts = [0]
        real_flock = locks_module.fcntl.flock

        def counted(fd: int, operation: int) -> None:
            attempts[0] += 1
            real_flock(fd, operation)

        monkeypatch.setattr(locks_module.fcntl, "flock", counted)
        entered = asyncio.Event()

        async def book() -> None:
            async with calendar_lock(engine, KeyedLocks(), "google:held@example.com"):
                entered.set()

        waiter = asyncio.create_task(book())
        await wait_until(lambda: attempts[0] >= 3)  # tried, found it held, tried again...
        assert not entered.is_set()
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        await asyncio.wait_for(waiter, 10)
        assert entered.is_set()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


def test_an_in_memory_database_needs_no_lock_file() -> None:
    for url in (
        "sqlite+agentcal:///:memory:",
        "sqlite+agentcal://",
        "sqlite+agentcal:///file:calendars?mode=memory&cache=shared&uri=true",
    ):
        assert lock_directory(sqlite_file(url)) is None, url


def test_a_file_uri_locks_next_to_its_file(tmp_path: Path) -> None:
    url = f"sqlite+agentcal:///file:{tmp_path / 'agentcal.db'}?mode=rwc&uri=true"
    assert lock_directory(sqlite_file(url)) == tmp_path / "agentcal.db.locks"


def test_lock_files_live_in_a_private_directory_next_to_the_database(tmp_path: Path) -> None:
    directory = lock_directory(tmp_path / "agentcal.db")
    assert directory == tmp_path / "agentcal.db.locks"
    assert directory.is_dir()
    assert directory.stat().st_mode & 0o777 == 0o700
