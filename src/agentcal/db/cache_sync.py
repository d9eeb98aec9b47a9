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

from prometheus_client import Counter
from sqlalchemy.engine import URL

from agentcal.db import caches, listen

# Handled notifications by table: an operator sees replicas keeping in step, and a test
# can wait until a replica has handled everything committed before a marker it sent.
NOTIFICATIONS = Counter(
    "agentcal_cache_notifications_total",
    "Cache notifications from other processes handled, by changed table",
    ["table"],
)


def _on_notify(payload: str) -> None:
    tables = set(payload.split(","))
    caches.invalidate_tables(tables)
    for table in tables:
        NOTIFICATIONS.labels(table).inc()


async def listen_forever(url: URL) -> None:
    """Listen for other replicas' changes until cancelled; run it as a lifespan task.
    Every (re)connection empties every cache: what was missed while not listening."""
    await listen.listen_forever(
        url,
        caches.CHANNEL,
        _on_notify,
        lambda: caches.invalidate_tables(None),
        "caches expire by TTL",
    )
