"""Locks: in-process per key, and per calendar across processes.

A calendar's lock is first an `asyncio.Lock` per key in the process, then one shared
by every process of the database:
* on PostgreSQL, where replicas share the database, a transaction-scoped advisory lock;
* on a SQLite file, which several processes may open (`serve --workers 2`, a CLI
  command), an exclusive `flock` on a file of its own next to the database
  (`<database>.locks/<hash of the name>.lock`). Not a database lock: a booking holds
  its calendar for the length of provider requests, and SQLite has one writer at a
  time, so a lock in the database would stop every other write (the audit records of
  other calls) meanwhile. The kernel drops a `flock` when its process dies, even by
  SIGKILL, so a crashed worker leaves no calendar locked. An in-memory database is
  one process's alone: the in-process lock is the whole story there.

The in-process lock comes first: one process's callers queue on it, and only the one
at its head waits for (polls) the shared lock, holding one pooled connection on
PostgreSQL at most.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from weakref import WeakValueDictionary

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.engine import sqlite_file

# How often the process at the head of the queue tries a calendar's file lock that
# another process holds; the kernel offers no asynchronous wait for a `flock`.
FILE_LOCK_POLL = 0.005


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


@functools.cache
def lock_directory(database: Path | None) -> Path | None:
    """Where the calendar lock files of the SQLite database file `database` live
    (`db.engine.sqlite_file` of its URL), created private (0700) on first use; None for
    an in-memory database."""
    if database is None:
        return None
    directory = Path(os.path.abspath(database) + ".locks")
    directory.mkdir(mode=0o700, exist_ok=True)
    return directory


def lock_file(directory: Path, name: str) -> Path:
    """The file whose `flock` is the lock `name`: named by a hash, as calendar ids may
    hold any character."""
    return directory / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"


@asynccontextmanager
async def calendar_lock(engine: AsyncEngine, locks: KeyedLocks, name: str) -> AsyncIterator[None]:
    """Hold `name` (e.g. `google:ana@example.com`) in this process and across every
    process of the database, until the block ends."""
    async with locks.hold(name):
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn, conn.begin():
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
                )
                yield
            return
        directory = lock_directory(sqlite_file(engine.url))
        if directory is None:
            yield
            return
        async with _flocked(lock_file(directory, name)):
            yield


@asynccontextmanager
async def _flocked(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive `flock` on `path` until the block ends. Each hold opens the
    file anew: a `flock` belongs to its open file, so two holders in one process (two
    apps on one database) exclude each other as two processes do, and closing the file
    drops the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # held by another process: try again shortly
                await asyncio.sleep(FILE_LOCK_POLL)
        yield
    finally:
        os.close(fd)
