"""Listening to a PostgreSQL notification channel, on a connection of its own.

A NOTIFY sent in a transaction is delivered when it commits and dropped when it rolls
back, so a listener hears of committed changes only. The connection reconnects with
backoff; `on_connect` runs on every (re)connection, since notifications sent while
it was down are lost and whatever they would have triggered must be done anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.engine import URL

log = structlog.get_logger("agentcal.db.listen")

_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0

OnNotify = Callable[[str], None]  # the payload


def dsn(url: URL) -> str:
    """The engine's URL as asyncpg takes it (`postgresql://…`, password included)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(
    url: URL, channel: str, on_notify: OnNotify, on_connect: Callable[[], None], what: str
) -> None:
    """Listen on `channel` until cancelled; run it as a background task. `what` names
    what is missed meanwhile, for the warning logged when the connection is down."""
    import asyncpg  # type: ignore[import-untyped]

    pause = _BACKOFF_FIRST
    while True:
        try:
            await _listen_once(url, channel, on_notify, on_connect)
            log.warning("a notification connection closed; reconnecting", channel=channel)
            pause = _BACKOFF_FIRST
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning(f"cannot listen on {channel}; {what} meanwhile", exc_info=True)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _BACKOFF_MAX)


async def _listen_once(
    url: URL, channel: str, on_notify: OnNotify, on_connect: Callable[[], None]
) -> None:
    """Listen on one connection until it closes."""
    import asyncpg

    def handle(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        on_notify(payload)

    connection = await asyncpg.connect(dsn(url))
    try:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _connection: closed.set())
        await connection.add_listener(channel, handle)
        on_connect()
        await closed.wait()
    finally:
        if not connection.is_closed():
            await connection.close()
