"""A short-lived cache of providers' availability answers, for answering at voice speed.

A caller on the phone waits for every availability question; most are about the days
just asked about. So a provider's *answer* (its free slots, or a calendar's busy
intervals: whatever the provider's slot computation starts from) is kept for
`AGENTCAL_AVAILABILITY_FRESH_SECONDS` (default 30; 0 turns it off), per calendar
(provider kind and function id, plus whatever else decides the answer, e.g. an event
type or the set of calendars asked) and per range. A provider's rules that depend on the
moment (minimum notice, horizon) are applied to the cached answer on every question.

* **Prefetch.** A question about one day asks the provider for the surrounding week in
  the same request (the provider says which wider range it may ask for), so the next
  day's question is answered from the cache.
* **Single flight.** A question whose range is covered by a request in flight waits
  for that request instead of asking again.
* **Emptied by agentcal's own changes.** A booking made, cancelled or moved through a
  tool call empties its calendar's answers at once (`forget`), in this process and, on
  PostgreSQL, in every replica: the call's final transaction sends
  `NOTIFY agentcal_availability` (`notify`), delivered at its commit, and every replica
  listens (`listen_forever`). A listening connection that was down empties everything
  when it is back. A request in flight when its calendar is emptied still answers those
  waiting for it, but is not kept.
* **A deadline.** When the provider has not answered within
  `AGENTCAL_AVAILABILITY_DEADLINE_MS` (default 1 200) and an answer at most 10 minutes
  old is kept, that answer is given, stamped stale (`fresh: false`, `stale_note()`),
  while the request goes on and fills the cache for the next question.
* **Never for booking.** A booking re-checks the slot with the provider itself.

Each answer carries when the provider gave it (`as_of`) and whether it is within the
freshness (`fresh`); results say both in `data` (`asOf`, `fresh`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from agentcal.db import listen
from agentcal.scheduling.speech import say_plural

__all__ = [
    "CHANNEL",
    "Answer",
    "AvailabilityCache",
    "Calendar",
    "forget",
    "forget_all",
    "listen_forever",
    "notify",
]

T = TypeVar("T")

CHANNEL = "agentcal_availability"
_NOTIFY = text("SELECT pg_notify(:channel, :calendar)")
_MAX_ENTRIES = 4  # ranges kept per key: a conversation asks about a few weeks at most
# An answer past its freshness is still given when the provider is slow, up to this age.
STALE_SECONDS = 600.0

Calendar = tuple[str, uuid.UUID]  # (provider kind, function id)

# Handled notifications: an operator sees replicas keeping in step, and a test can wait
# until a replica has handled another's change.
NOTIFICATIONS = Counter(
    "agentcal_availability_notifications_total",
    "Availability cache notifications from other processes handled",
)


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A provider's answer for `[start, end)`, given at `as_of` (UTC)."""

    value: T
    start: datetime
    end: datetime
    as_of: datetime
    fresh: bool = True

    def stamp(self) -> dict[str, Any]:
        """What a result's `data` says of it."""
        return {"asOf": self.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "fresh": self.fresh}

    def stale_note(self) -> str:
        """For a stale answer, the sentence saying how old it is; empty otherwise."""
        if self.fresh:
            return ""
        age = (_utcnow() - self.as_of).total_seconds()
        minutes = max(1, round(age / 60))
        return say_plural(
            "These times are as of {count} minute ago.",
            "These times are as of {count} minutes ago.",
            minutes,
            count=minutes,
        )


@dataclass(slots=True)
class _Entry(Generic[T]):
    answer: Answer[T]
    kept_at: float  # monotonic clock


@dataclass(eq=False, slots=True)
class _Flight(Generic[T]):
    start: datetime
    end: datetime
    task: asyncio.Future[Answer[T]]


@dataclass(slots=True)
class _Slot(Generic[T]):
    """Everything kept for one key."""

    entries: list[_Entry[T]] = field(default_factory=list)
    flights: list[_Flight[T]] = field(default_factory=list)


Fetch = Callable[[datetime, datetime], Awaitable[T]]
Key = tuple[Calendar, Hashable]

_caches: weakref.WeakSet[AvailabilityCache[Any]] = weakref.WeakSet()


class AvailabilityCache(Generic[T]):
    """Providers' answers by (calendar, what else decides them), by range."""

    def __init__(self, fresh_seconds: float, deadline_seconds: float | None = None) -> None:
        self.fresh_seconds = fresh_seconds
        # None: wait for the provider however long it takes (within the call's budget).
        self.deadline_seconds = deadline_seconds
        self._slots: dict[Key, _Slot[T]] = {}
        self._generations: dict[Calendar, int] = {}
        _caches.add(self)

    @property
    def enabled(self) -> bool:
        return self.fresh_seconds > 0

    async def answer(
        self,
        calendar: Calendar,
        detail: Hashable,
        start: datetime,
        end: datetime,
        fetch: Fetch[T],
        *,
        wide: tuple[datetime, datetime] | None = None,
    ) -> Answer[T]:
        """The answer covering `[start, end)`: a fresh one kept, else the one in flight
        that covers it, else `fetch` of `wide` (which must contain the range; the range
        itself by default). The caller picks what it needs of the answer's value."""
        fetch_start, fetch_end = wide if wide is not None else (start, end)
        if fetch_start > start or fetch_end < end:
            raise ValueError("the range fetched must contain the range asked")
        if not self.enabled:
            return await self._fetch(fetch, start, end)
        key: Key = (calendar, detail)
        slot = self._slots.setdefault(key, _Slot())
        now = time.monotonic()
        keep = max(self.fresh_seconds, STALE_SECONDS if self.deadline_seconds is not None else 0)
        slot.entries = [e for e in slot.entries if now - e.kept_at < keep]
        covering = [e for e in slot.entries if e.answer.start <= start and end <= e.answer.end]
        for entry in reversed(covering):  # the newest first
            if now - entry.kept_at < self.fresh_seconds:
                return entry.answer
        stale = covering[-1].answer if covering else None
        for flight in slot.flights:
            if flight.start <= start and end <= flight.end:
                return await self._wait(flight.task, stale)
        generation = self._generations.get(calendar, 0)
        task = asyncio.ensure_future(self._fetch(fetch, fetch_start, fetch_end))
        flight = _Flight(fetch_start, fetch_end, task)
        slot.flights.append(flight)

        def done(task: asyncio.Future[Answer[T]]) -> None:
            # Kept only if its calendar was not emptied meanwhile: the answer may be
            # from before the change that emptied it.
            current = self._slots.get(key)
            if current is not None and flight in current.flights:
                current.flights.remove(flight)
            if task.cancelled() or task.exception() is not None:
                return
            if self._generations.get(calendar, 0) != generation:
                return
            kept = self._slots.setdefault(key, _Slot())
            kept.entries.append(_Entry(task.result(), time.monotonic()))
            del kept.entries[:-_MAX_ENTRIES]

        task.add_done_callback(done)
        return await self._wait(task, stale)

    async def _wait(self, task: asyncio.Future[Answer[T]], stale: Answer[T] | None) -> Answer[T]:
        """The request's answer; past the deadline, `stale` if there is one. Shielded: a
        caller that gives up does not cancel the request others (and the cache) await."""
        if stale is None or self.deadline_seconds is None:
            return await asyncio.shield(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.deadline_seconds)
        except TimeoutError:
            return replace(stale, fresh=False)

    @staticmethod
    async def _fetch(fetch: Fetch[T], start: datetime, end: datetime) -> Answer[T]:
        value = await fetch(start, end)
        return Answer(value, start, end, _utcnow())

    def forget(self, calendar: Calendar | None) -> None:
        """Empty the answers of `calendar` (of every calendar for None); requests in
        flight for it answer those waiting but are no longer joined nor kept."""
        if calendar is None:
            for known in {key[0] for key in self._slots} | set(self._generations):
                self._generations[known] = self._generations.get(known, 0) + 1
            self._slots.clear()
            return
        self._generations[calendar] = self._generations.get(calendar, 0) + 1
        for key in [k for k in self._slots if k[0] == calendar]:
            del self._slots[key]


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def forget(kind: str, function_id: uuid.UUID) -> None:
    """Empty every cache's answers for the function's calendar, in this process."""
    for cache in list(_caches):
        cache.forget((kind, function_id))


def forget_all() -> None:
    for cache in list(_caches):
        cache.forget(None)


async def notify(connection: AsyncConnection, kind: str, function_id: uuid.UUID) -> None:
    """On PostgreSQL, tell every replica (this one too) to empty the function's answers
    when `connection`'s transaction commits; nothing elsewhere (one process)."""
    if connection.dialect.name == "postgresql":
        payload = f"{kind}:{function_id}"
        await connection.execute(_NOTIFY, {"channel": CHANNEL, "calendar": payload})


def _on_notify(payload: str) -> None:
    kind, _, function_id = payload.partition(":")
    try:
        calendar = (kind, uuid.UUID(function_id))
    except ValueError:
        forget_all()  # not ours to read: the safe side
    else:
        for cache in list(_caches):
            cache.forget(calendar)
    NOTIFICATIONS.inc()


async def listen_forever(url: URL) -> None:
    """Listen for every replica's booking changes until cancelled; run it as a lifespan
    task. Every (re)connection empties every cache: what was missed while not listening."""
    await listen.listen_forever(
        url, CHANNEL, _on_notify, forget_all, "availability answers expire by freshness"
    )
