"""Locks: in-process per key, and per calendar across replicas.

The embedded default is one process, so an `asyncio.Lock` per key is the whole story
on SQLite. On PostgreSQL replicas share the database, so a calendar's lock is a
transaction-scoped advisory lock there, taken after the in-process one (which keeps
one process's callers from tying up several pooled connections while they wait).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakValueDictionary

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class KeyedLocks:
    """One `asyncio.Lock` per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[object, asyncio.Lock] = WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: object) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_xact_lock`, from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def calendar_lock(engine: AsyncEngine, locks: KeyedLocks, name: str) -> AsyncIterator[None]:
    """Hold `name` (e.g. `google:ana@example.com`) in this process and, on PostgreSQL,
    across replicas, until the block ends."""
    async with locks.hold(name):
        if engine.dialect.name != "postgresql":
            yield
            return
        async with engine.connect() as conn, conn.begin():
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
            )
            yield
