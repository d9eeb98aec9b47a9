"""Helpers every part of the suite shares."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import event, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.db.caches import CHANNEL, TtlCache
from agentcal.db.engine import utcnow
from agentcal.runtime.models import IdempotencyRecord

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def next_monday() -> date:
    """The next Monday in São Paulo (the sandboxes' demo zone), never today: a day whose
    working hours all lie ahead, whatever day and hour the suite runs."""
    today = datetime.now(SAO_PAULO).date()
    return today + timedelta(days=(7 - today.weekday()) or 7)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 5.0,
    interval: float = 0.005,
) -> None:
    """Return as soon as `condition()` holds (it may be a coroutine function); fail the
    test if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s and this never held: {condition}")
        await asyncio.sleep(interval)


@dataclass
class Request:
    """One request the app handled: its method and path, and when it began and ended, as
    positions in the sequence of every start and end the recorder saw."""

    method: str
    path: str
    client: str  # the `X-Test-Client` header of the request ("" without one)
    began: int
    ended: int = -1

    def overlaps(self, other: Request) -> bool:
        """Both were being handled at once: each began before the other ended."""
        return self.began < other.ended and other.began < self.ended


@dataclass
class InFlight:
    """An ASGI app around `app` that records when each HTTP request is being handled, so a
    test can prove that requests it sent at once were really handled at the same time."""

    app: Any
    requests: list[Request] = field(default_factory=list)
    most: int = 0
    _events: itertools.count[int] = field(default_factory=itertools.count)
    _now: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = dict(scope["headers"]).get(b"x-test-client", b"").decode()
        request = Request(scope["method"], scope["path"], client, next(self._events))
        self.requests.append(request)
        self._now += 1
        self.most = max(self.most, self._now)
        try:
            await self.app(scope, receive, send)
        finally:
            self._now -= 1
            request.ended = next(self._events)

    def client(self, token: str, name: str = "") -> httpx.AsyncClient:
        """A client of the app, through this recorder, sending `token`; the requests it
        sends are recorded under `name`."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self),
            base_url="http://agentcal.test",
            headers={"Authorization": f"Bearer {token}", "X-Test-Client": name},
        )

    def of(self, answer: httpx.Response) -> Request:
        """The recorded request that got this answer (by its client's name, which must
        have sent one request only)."""
        name = answer.request.headers["X-Test-Client"]
        (request,) = (r for r in self.requests if r.client == name)
        return request


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


@contextmanager
def statements(engine: AsyncEngine, wanted: Callable[[str], bool]) -> Iterator[list[str]]:
    """The SQL statements sent through `engine` meanwhile that `wanted` picks."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if wanted(statement.lstrip()):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def die_before_storing(app: FastAPI, bot_id: str, call_id: str) -> None:
    """As if the process running the bot's call `call_id` died after the provider acted
    and before the result was stored: the key is left `running`, its lease lapsed."""
    async with app.state.sessionmaker.begin() as session:
        changed = await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == f"bot:{bot_id}", IdempotencyRecord.key == call_id)
            .values(
                state="running",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                result_ciphertext=None,
                result_key_id=None,
            )
        )
    assert changed.rowcount == 1
