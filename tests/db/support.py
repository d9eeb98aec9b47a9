"""Helpers of the database tests: waiting out the cache notifications already on their way."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentcal.db.caches import CHANNEL, TtlCache

_NOTIFY = text("SELECT pg_notify(:channel, :tables)")


async def notifications_drained(
    sessionmaker: async_sessionmaker[AsyncSession], timeout: float = 10.0
) -> None:
    """Return once this process has handled every cache notification committed so far.

    On PostgreSQL a commit's NOTIFY reaches this process's listener (the app's
    `cache_sync` task) a little later, and empties every cache of the named tables,
    including a test's own cache made after the commit. PostgreSQL delivers the
    notifications of one channel in commit order, so once a notification naming a table
    of its own (watched by a cache of its own) has emptied that cache, all those
    committed before it have been handled. Sent again every half second, in case the
    listener was still connecting. On SQLite there are no notifications: nothing to wait.
    """
    async with sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
    marker = f"drained-{uuid.uuid4().hex}"
    sentinel: TtlCache[str, str] = TtlCache({marker}, ttl=60)
    before = sentinel.generation
    deadline = time.monotonic() + timeout
    while sentinel.generation == before:
        assert time.monotonic() < deadline, f"no cache notification handled in {timeout} s"
        async with sessionmaker() as session:
            await session.execute(_NOTIFY, {"channel": CHANNEL, "tables": marker})
            await session.commit()
        resend = time.monotonic() + 0.5
        while sentinel.generation == before and time.monotonic() < resend:
            await asyncio.sleep(0.005)
