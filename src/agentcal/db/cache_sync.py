"""Caches kept in step across PostgreSQL replicas, with LISTEN/NOTIFY.

A transaction that changes a table some `TtlCache` reads from also sends
`NOTIFY agentcal_caches, '<table>,…'` (`agentcal.db.caches` does it at each flush); PostgreSQL
delivers it when the transaction commits and drops it when it rolls back. Every replica
listens on a connection of its own and empties its caches of those tables, so a revoked
token or a switched-off function stops working everywhere within milliseconds instead of
`AGENTCAL_CACHE_SECONDS`. While that connection is down (it reconnects with backoff) the
TTL is the bound again; after a reconnection every cache is emptied, since notifications
may have been missed.

SQLite needs none of this: it is one process, whose own commits empty its caches.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.engine import URL

from agentcal.db import caches

log = structlog.get_logger("agentcal.db.cache_sync")

_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0


def _dsn(url: URL) -> str:
    """The engine's URL as asyncpg takes it (`postgresql://…`, password included)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# Handled notifications by table: an operator sees replicas keeping in step, and a test
# can wait until a replica has handled everything committed before a marker it sent.
NOTIFICATIONS = Counter(
    "agentcal_cache_notifications_total",
    "Cache notifications from other processes handled, by changed table",
    ["table"],
)


def _on_notify(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
    tables = set(payload.split(","))
    caches.invalidate_tables(tables)
    for table in tables:
        NOTIFICATIONS.labels(table).inc()


async def listen_forever(url: URL) -> None:
    """Listen for other replicas' changes until cancelled; run it as a lifespan task."""
    import asyncpg  # type: ignore[import-untyped]

    pause = _BACKOFF_FIRST
    while True:
        try:
            await _listen_once(url)
            log.warning("the cache notification connection closed; reconnecting")
            pause = _BACKOFF_FIRST
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning(
                "cannot listen for cache notifications; caches expire by TTL meanwhile",
                exc_info=True,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, _BACKOFF_MAX)


async def _listen_once(url: URL) -> None:
    """Listen on one connection until it closes."""
    import asyncpg

    connection = await asyncpg.connect(_dsn(url))
    try:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _connection: closed.set())
        await connection.add_listener(caches.CHANNEL, _on_notify)
        caches.invalidate_tables(None)  # what was missed while not listening
        await closed.wait()
    finally:
        if not connection.is_closed():
            await connection.close()
