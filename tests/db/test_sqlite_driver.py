"""`sqlite+agentcal://` (agentcal.db.sqlite_driver): SQLite on the loop's thread, waiting for
locks asynchronously.

SQLite-only by nature: every test makes its own database file under `tmp_path`, whatever
`AGENTCAL_TEST_DATABASE_URL` says. (No fixture here is called `engine`, so the suite's
table-emptying teardown never touches these files.)
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db import sqlite_driver
from agentcal.db.engine import create_engine
from tests.support import wait_until

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, payload BLOB)"
INSERT = text("INSERT INTO items (name) VALUES (:name)")


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT name FROM items ORDER BY id"))).scalars())


async def _insert(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(INSERT, {"name": name})


def _write_lock_held(path: Path) -> bool:
    """Whether this loop's in-process write lock of `path` is taken right now."""
    return sqlite_driver._write_lock(os.path.abspath(path)).locked()


def _queued(path: Path) -> int:
    """How many writers of this loop wait for `path`'s in-process write lock right now."""
    # asyncio.Lock keeps its waiters' futures in `_waiters` (None before the first wait).
    waiters = sqlite_driver._write_lock(os.path.abspath(path))._waiters
    return len(waiters or ())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "driver.db"


async def _open(path: Path, **kwargs: Any) -> AsyncEngine:
    """An engine on `path` with the `items` table, connected once already (so that the
    first connection's set-up never runs while a test holds a lock)."""
    engine = create_engine(f"sqlite:///{path}", **kwargs)
    async with engine.begin() as conn:
        await conn.execute(text(SCHEMA))
    return engine


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _open(db_path)
    yield engine
    await engine.dispose()


@pytest.fixture
async def impatient_db(db_path: Path) -> AsyncIterator[AsyncEngine]:
    """Writers give up after 0.3 s (`connect_args` replaces create_engine's default)."""
    engine = await _open(db_path, connect_args={"timeout": 0.3})
    yield engine
    await engine.dispose()


# --------------------------------------------------------------------------------- helpers


@dataclass
class Ticker:
    """Counts 10 ms ticks of the event loop, and the longest gap between two ticks."""

    ticks: int = 0
    longest_gap: float = 0.0
    _last: float = field(default_factory=time.monotonic)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - self._last)
            self._last = now
            self.ticks += 1


@asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    try:
        yield ticker
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# Another OS process: takes SQLite's write lock with an uncommitted insert, says so on
# stdout, then holds it `argv[2]` seconds (or, if negative, until a line on stdin).
HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO items (name) VALUES ('other process')")
print("holding", flush=True)
hold = float(sys.argv[2])
if hold < 0:
    sys.stdin.readline()
else:
    time.sleep(hold)
connection.execute("COMMIT")
print("committed", flush=True)
"""


@dataclass
class Holder:
    process: asyncio.subprocess.Process

    async def commit(self) -> None:
        """Let a holder started with `hold=None` commit, and wait until it has."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(10):
            assert await self.process.stdout.readline() == b"committed\n"


@asynccontextmanager
async def other_process_holding(path: Path, hold: float | None) -> AsyncIterator[Holder]:
    """Yields once another process holds `path`'s write lock (`hold` seconds, or until
    `Holder.commit`)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(path),
        str(-1 if hold is None else hold),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert await process.stdout.readline() == b"holding\n"
        yield Holder(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


# ----------------------------------------------------------------------------- the dialect


def test_plain_sqlite_urls_get_the_agentcal_driver(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert engine.dialect.name == "sqlite"
    assert engine.dialect.driver == "agentcal"
    assert engine.url.drivername == "sqlite+agentcal"


def test_aiosqlite_urls_keep_the_threaded_driver(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert engine.dialect.driver == "aiosqlite"
    assert engine.url.drivername == "sqlite+aiosqlite"


async def test_connections_are_in_wal_mode_without_sqlites_busy_handler(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 0
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0


# ----------------------------------------------------------------- writers of this process


async def test_two_write_transactions_of_one_engine_serialize(
    db: AsyncEngine, db_path: Path
) -> None:
    a_inserted = asyncio.Event()
    order: list[str] = []
    seen_by_b: list[str] = []
    times: dict[str, float] = {}

    async def a() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "a"})
            order.append("a inserted")
            a_inserted.set()
            await asyncio.sleep(0.2)  # holds the write transaction across an await
            order.append("a commits")

    async def b() -> None:
        await a_inserted.wait()
        times["b starts"] = time.monotonic()
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "b"})
            order.append("b inserted")
            times["b inserted"] = time.monotonic()
            result = await conn.execute(text("SELECT name FROM items ORDER BY id"))
            seen_by_b.extend(result.scalars())

    async with asyncio.timeout(5):
        await asyncio.gather(a(), b())
    assert order == ["a inserted", "a commits", "b inserted"]
    # B's transaction began after A's commit: it already sees A's row.
    assert seen_by_b == ["a", "b"]
    assert times["b inserted"] - times["b starts"] >= 0.15
    assert await _names(db) == ["a", "b"]
    assert not _write_lock_held(db_path)


async def test_writers_of_this_process_get_the_lock_in_the_order_they_asked(
    db: AsyncEngine, db_path: Path
) -> None:
    release = asyncio.Event()
    a_inserted = asyncio.Event()

    async def a() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "a"})
            a_inserted.set()
            await release.wait()

    holder = asyncio.create_task(a())
    await a_inserted.wait()
    waiters = []
    for i in range(5):
        waiters.append(asyncio.create_task(_insert(db, f"w{i}")))
        await wait_until(lambda: _queued(db_path) == len(waiters))  # w{i} asked: it waits
    release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(holder, *waiters)
    assert await _names(db) == ["a", "w0", "w1", "w2", "w3", "w4"]


async def test_the_loop_keeps_running_while_a_writer_waits_for_another(db: AsyncEngine) -> None:
    a_inserted = asyncio.Event()

    async def a() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "a"})
            a_inserted.set()
            await asyncio.sleep(0.3)

    async def b() -> float:
        await a_inserted.wait()
        started = time.monotonic()
        await _insert(db, "b")
        return time.monotonic() - started

    async with ticking() as ticker, asyncio.timeout(5):
        _, b_waited = await asyncio.gather(a(), b())
    assert b_waited >= 0.2  # B did wait for A...
    assert ticker.ticks >= 12  # ...while the loop went on (~30 ticks in 0.3 s)
    assert ticker.longest_gap < 0.15
    assert await _names(db) == ["a", "b"]


async def test_a_writer_waiting_for_this_process_longer_than_the_timeout_fails(
    impatient_db: AsyncEngine,
) -> None:
    release = asyncio.Event()
    a_inserted = asyncio.Event()

    async def a() -> None:
        async with impatient_db.begin() as conn:
            await conn.execute(INSERT, {"name": "a"})
            a_inserted.set()
            await release.wait()

    holder = asyncio.create_task(a())
    await a_inserted.wait()
    started = time.monotonic()
    with pytest.raises(exc.OperationalError, match="locked"):
        async with asyncio.timeout(5):  # a hang fails here, as a TimeoutError
            await _insert(impatient_db, "b")
    waited = time.monotonic() - started
    release.set()
    await holder
    assert 0.25 <= waited < 1.5
    assert await _names(impatient_db) == ["a"]


# ------------------------------------------------------------------------- another process


async def test_another_process_holding_the_write_lock_does_not_block_the_loop(
    db: AsyncEngine, db_path: Path
) -> None:
    async with other_process_holding(db_path, hold=0.5) as holder, ticking() as ticker:
        started = time.monotonic()
        async with asyncio.timeout(5):
            await _insert(db, "engine")
        waited = time.monotonic() - started
        ticks = ticker.ticks
        longest_gap = ticker.longest_gap
        async with asyncio.timeout(5):
            await holder.process.wait()
    assert holder.process.returncode == 0
    # The write went in after the other process committed...
    assert await _names(db) == ["other process", "engine"]
    assert waited >= 0.3
    # ...and the loop ran all along (~50 ticks in 0.5 s; a blocking wait gives ~0).
    assert ticks >= 20
    assert longest_gap < 0.25


async def test_autocommit_writes_land_at_once_and_hold_no_lock(
    db: AsyncEngine, db_path: Path
) -> None:
    async with db.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(INSERT, {"name": "auto"})
        assert not _write_lock_held(db_path)
        assert await _names(db) == ["auto"]  # seen by another connection, no commit


async def test_an_autocommit_write_waits_for_another_process_without_blocking_the_loop(
    db: AsyncEngine, db_path: Path
) -> None:
    async with db.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        async with other_process_holding(db_path, hold=0.5) as holder, ticking() as ticker:
            async with asyncio.timeout(5):
                await auto.execute(INSERT, {"name": "auto"})
            ticks = ticker.ticks
            await holder.process.wait()
    assert await _names(db) == ["other process", "auto"]
    assert ticks >= 20
    assert not _write_lock_held(db_path)


async def test_a_write_gives_up_after_the_connection_timeout_with_database_is_locked(
    impatient_db: AsyncEngine, db_path: Path
) -> None:
    async with other_process_holding(db_path, hold=None) as holder, ticking() as ticker:
        started = time.monotonic()
        with pytest.raises(exc.OperationalError, match="locked") as raised:
            async with asyncio.timeout(5):  # a hang fails here, as a TimeoutError
                await _insert(impatient_db, "engine")
        waited = time.monotonic() - started
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
        assert 0.25 <= waited < 1.5
        assert ticker.ticks >= 10
        await holder.commit()
    assert await _names(impatient_db) == ["other process"]
    # Nothing was left held: the next write goes straight in.
    await _insert(impatient_db, "after")
    assert await _names(impatient_db) == ["other process", "after"]


async def test_reads_do_not_wait_for_a_writer_of_another_process(
    db: AsyncEngine, db_path: Path
) -> None:
    await _insert(db, "committed before")
    async with other_process_holding(db_path, hold=None) as holder:
        started = time.monotonic()
        async with asyncio.timeout(5):
            names = await _names(db)
        read_in = time.monotonic() - started
        # The other process's insert is not committed: not seen.
        assert names == ["committed before"]
        assert read_in < 0.2
        await holder.commit()
    assert await _names(db) == ["committed before", "other process"]


# ---------------------------------------------------------------- the lock is never leaked


async def test_a_cancelled_waiter_for_the_write_lock_leaves_it_free(
    db: AsyncEngine, db_path: Path
) -> None:
    release = asyncio.Event()
    a_inserted = asyncio.Event()

    async def a() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "a"})
            a_inserted.set()
            await release.wait()

    holder = asyncio.create_task(a())
    await a_inserted.wait()
    waiter = asyncio.create_task(_insert(db, "cancelled"))
    await wait_until(lambda: _queued(db_path) == 1)
    assert not waiter.done()  # queued behind A
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    assert not _write_lock_held(db_path)
    started = time.monotonic()
    async with asyncio.timeout(5):
        await _insert(db, "later")
    assert time.monotonic() - started < 0.5
    assert await _names(db) == ["a", "later"]


async def test_a_waiter_cancelled_just_as_the_lock_is_handed_to_it_leaves_it_free(
    db: AsyncEngine, db_path: Path
) -> None:
    # The driver's connections directly: through SQLAlchemy, closing a connection yields
    # to the loop after COMMIT, so the waiter would already have run by then.
    first = await sqlite_driver.connect(str(db_path))
    second = await sqlite_driver.connect(str(db_path))
    try:
        await first.cursor().execute("INSERT INTO items (name) VALUES ('first')")
        waiter = asyncio.create_task(
            second.cursor().execute("INSERT INTO items (name) VALUES ('cancelled')")
        )
        await wait_until(lambda: _queued(db_path) == 1)
        assert not waiter.done()  # queued behind `first`
        await first.commit()  # hands the lock to the waiter, without yielding...
        waiter.cancel()  # ...which is cancelled before it could run
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not second.raw.in_transaction
        assert not _write_lock_held(db_path)
    finally:
        first.stop()
        second.stop()
    started = time.monotonic()
    async with asyncio.timeout(5):
        await _insert(db, "later")
    assert time.monotonic() - started < 0.5
    assert await _names(db) == ["first", "later"]


async def test_a_writer_cancelled_while_another_process_holds_the_lock_leaves_it_free(
    db: AsyncEngine, db_path: Path
) -> None:
    async with other_process_holding(db_path, hold=None) as holder:
        waiter = asyncio.create_task(_insert(db, "cancelled"))
        # Retrying BEGIN IMMEDIATE, with this process's lock taken (taking a free lock and
        # the first BEGIN never yield: a writer seen holding it waits to try again).
        await wait_until(lambda: _write_lock_held(db_path))
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await holder.commit()
    assert not _write_lock_held(db_path)
    started = time.monotonic()
    async with asyncio.timeout(5):
        await _insert(db, "later")
    assert time.monotonic() - started < 0.5
    assert await _names(db) == ["other process", "later"]


async def test_a_statement_cancelled_while_retrying_begin_leaves_its_connection_usable(
    db: AsyncEngine, db_path: Path
) -> None:
    # The driver's own connection: SQLAlchemy would close it after a cancellation anyway.
    connection = await sqlite_driver.connect(str(db_path))
    try:
        async with other_process_holding(db_path, hold=None) as holder:
            waiter = asyncio.create_task(
                connection.cursor().execute("INSERT INTO items (name) VALUES ('cancelled')")
            )
            await wait_until(lambda: _write_lock_held(db_path))
            assert not waiter.done()  # retrying BEGIN IMMEDIATE
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert not _write_lock_held(db_path)
            assert not connection.raw.in_transaction
            await holder.commit()
        async with asyncio.timeout(5):
            await connection.cursor().execute("INSERT INTO items (name) VALUES ('same one')")
            await connection.commit()
        assert not _write_lock_held(db_path)
    finally:
        connection.stop()
    assert await _names(db) == ["other process", "same one"]


async def test_a_statement_that_timed_out_leaves_its_connection_usable(
    db: AsyncEngine, db_path: Path
) -> None:
    connection = await sqlite_driver.connect(str(db_path), timeout=0.2)
    try:
        async with other_process_holding(db_path, hold=None) as holder:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                async with asyncio.timeout(5):
                    await connection.cursor().execute("INSERT INTO items (name) VALUES ('no')")
            assert not _write_lock_held(db_path)
            assert not connection.raw.in_transaction
            await holder.commit()
        async with asyncio.timeout(5):
            await connection.cursor().execute("INSERT INTO items (name) VALUES ('same one')")
            await connection.commit()
    finally:
        connection.stop()
    assert await _names(db) == ["other process", "same one"]


class Boom(Exception):
    pass


async def test_a_rolled_back_transaction_writes_nothing_and_frees_the_lock(
    db: AsyncEngine, db_path: Path
) -> None:
    async def failing_transaction() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "rolled back"})
            await conn.execute(text("UPDATE items SET name = 'renamed' WHERE name = 'kept'"))
            raise Boom

    await _insert(db, "kept")
    with pytest.raises(Boom):
        await failing_transaction()
    assert not _write_lock_held(db_path)
    started = time.monotonic()
    async with asyncio.timeout(5):
        await _insert(db, "next")
    assert time.monotonic() - started < 0.5
    assert await _names(db) == ["kept", "next"]


async def test_an_explicit_rollback_undoes_the_writes_and_frees_the_lock(
    db: AsyncEngine, db_path: Path
) -> None:
    async with db.connect() as conn:
        await conn.execute(INSERT, {"name": "rolled back"})
        assert _write_lock_held(db_path)  # held for the whole transaction...
        await conn.rollback()
        assert not _write_lock_held(db_path)  # ...and no longer
    assert await _names(db) == []


async def test_an_integrity_error_leaves_the_lock_free(db: AsyncEngine, db_path: Path) -> None:
    async def second_insert_fails() -> None:
        async with db.begin() as conn:
            await conn.execute(INSERT, {"name": "fine"})
            await conn.execute(INSERT, {"name": "taken"})  # UNIQUE

    await _insert(db, "taken")
    with pytest.raises(exc.IntegrityError):
        await second_insert_fails()
    assert not _write_lock_held(db_path)
    started = time.monotonic()
    async with asyncio.timeout(5):
        await _insert(db, "next")
    assert time.monotonic() - started < 0.5
    assert await _names(db) == ["taken", "next"]


async def test_an_integrity_error_as_the_first_statement_leaves_the_lock_free(
    db: AsyncEngine, db_path: Path
) -> None:
    await _insert(db, "taken")
    with pytest.raises(exc.IntegrityError):
        await _insert(db, "taken")
    assert not _write_lock_held(db_path)
    async with asyncio.timeout(5):
        await _insert(db, "next")
    assert await _names(db) == ["taken", "next"]


# ----------------------------------------------------------------------------- checkpoints


CHECKPOINT_TEST_BYTES = 64 * 1024
PAYLOAD = 8 * 1024


async def _write_payloads(engine: AsyncEngine, count: int) -> None:
    for i in range(count):
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO items (name, payload) VALUES (:name, randomblob(:size))"),
                {"name": f"row {i}", "size": PAYLOAD},
            )
        await asyncio.sleep(0.005)  # room for the checkpointer's thread


async def _until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_the_wal_is_checkpointed_into_the_database_past_checkpoint_bytes(
    db: AsyncEngine, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_BYTES", CHECKPOINT_TEST_BYTES)
    wal = Path(f"{db_path}-wal")
    size_before = db_path.stat().st_size
    count = 60  # ~480 KiB of payloads, 7x the threshold
    await _write_payloads(db, count)
    written = count * PAYLOAD
    # With wal_autocheckpoint=0, only the driver's checkpoints ever write pages into the
    # database file itself; without them it keeps its size and the WAL holds everything.
    assert await _until(lambda: db_path.stat().st_size - size_before >= written // 2), (
        f"database file {db_path.stat().st_size} B, WAL {wal.stat().st_size} B"
    )
    # Checkpointed WALs are reused from the start: the WAL stayed well under the total.
    assert wal.stat().st_size < written // 2
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar() == count


async def test_no_checkpoint_runs_below_checkpoint_bytes(
    db: AsyncEngine, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control of the test above: the database file grows only by checkpoints."""
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_BYTES", 64 * 1024 * 1024)
    size_before = db_path.stat().st_size
    await _write_payloads(db, 20)
    # A checkpoint is started by a commit, and holds `_running` until it has finished:
    # once that is free, any checkpoint the writes started has done its work.
    checkpointer = sqlite_driver._checkpointers[os.path.abspath(db_path)]
    await wait_until(lambda: not checkpointer._running.locked())
    assert db_path.stat().st_size == size_before
    assert Path(f"{db_path}-wal").stat().st_size >= 20 * PAYLOAD


def test_a_checkpoint_copies_the_wal_into_the_database_file_and_frees_its_lock(
    tmp_path: Path,
) -> None:
    """`_Checkpointer._checkpoint` alone copies the WAL into the database file."""
    path = tmp_path / "c.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute(SCHEMA)
    connection.execute("INSERT INTO items (name, payload) VALUES ('x', randomblob(100000))")
    before = os.stat(path).st_size
    checkpointer = sqlite_driver._Checkpointer(str(path))
    assert checkpointer._running.acquire(blocking=False)  # as maybe_start does
    checkpointer._checkpoint()
    assert not checkpointer._running.locked()  # released for the next one
    assert os.stat(path).st_size > before + 90_000  # the pages reached the database file
    connection.close()
