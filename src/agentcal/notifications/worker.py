"""The notification worker: claims due notifications, sends them, records each outcome.

One runs inside `agentcal serve` unless `AGENTCAL_NOTIFICATIONS_WORKER=false`;
`agentcal worker` runs more, for scale-out. Any number may run against PostgreSQL:
claims (`outbox.claim`) hand each due notification to one worker at a time. On SQLite
the database serialises claims, so several processes are safe too, if pointless.

A worker sends up to `AGENTCAL_NOTIFICATION_CONCURRENCY` notifications at once. Idle,
it waits for whichever comes first: a commit in this process (`outbox.wake_local`), a
PostgreSQL notification from another process, the next due time, or the poll interval.

Stopping (`stop`) is graceful: no new claims; what is being sent is given the send
time-out to finish and is recorded; anything still unfinished after that is released
for another worker, not left to wait out its lease.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.crypto.keyring import Keyring
from agentcal.db import listen
from agentcal.db.engine import utcnow
from agentcal.notifications import outbox
from agentcal.notifications.outbox import DELIVERIES, Claimed
from agentcal.notifications.senders import Destination, Senders, Sent, Undeliverable
from agentcal.settings import Settings

log = structlog.get_logger("agentcal.notifications")

# (session, the claimed row) → where it goes, or `Undeliverable` naming why it cannot go.
Destinations = Callable[[AsyncSession, Claimed], Awaitable[Destination]]

MEASURE_EVERY = 5.0  # seconds between refreshes of the outbox gauges


class Worker:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        destinations: Destinations,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._keyring = keyring
        self._destinations = destinations
        self._senders = Senders(settings)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], Claimed] = {}
        self._sending: set[uuid.UUID] = set()  # claimed rows whose send has begun
        self._task: asyncio.Task[None] | None = None
        self._measured = 0.0

    def start(self) -> None:
        """Run in the background (`serve`); `stop` ends it."""
        self._task = asyncio.create_task(self.run(), name="notification-worker")

    async def run(self) -> None:
        """Deliver until `stop` is called."""
        outbox.register(self._wake)
        listener = None
        if self._engine.dialect.name == "postgresql":
            listener = asyncio.create_task(
                listen.listen_forever(
                    self._engine.url,
                    outbox.CHANNEL,
                    lambda _payload: self._wake.set(),
                    self._wake.set,
                    "new notifications wait for the poll interval",
                )
            )
        try:
            while not self._stopping.is_set():
                await self._round()
        finally:
            outbox.unregister(self._wake)
            if listener is not None:
                listener.cancel()
            await self._finish_inflight()
            await self._senders.aclose()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _round(self) -> None:
        """Claim what fits, then wait for a reason to look again."""
        self._wake.clear()
        try:
            wait = await self._claim_due()
        except Exception:  # the database gone or its pool exhausted: never the loop's end
            log.warning("could not look for notifications to deliver", exc_info=True)
            wait = self._settings.notification_poll_seconds
        if wait == 0:
            return
        waiters = {asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(
                waiters | set(self._inflight), timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _claim_due(self) -> float:
        """Start sending what is due; answer how long to wait before looking again (0:
        look again at once)."""
        settings = self._settings
        if time.monotonic() - self._measured > MEASURE_EVERY:
            self._measured = time.monotonic()
            await outbox.measure(self._engine)
        free = settings.notification_concurrency - len(self._inflight)
        # Claims come in batches (each claim is a transaction): while sends are under
        # way, wait until half the slots are free. In-flight sends take milliseconds.
        if free == 0 or (self._inflight and free < settings.notification_concurrency // 2):
            return settings.notification_poll_seconds
        # A read first: an idle worker then never takes SQLite's write lock to find
        # that nothing is due.
        due = await outbox.next_due(self._engine)
        if due is None:
            return settings.notification_poll_seconds
        ahead = (due - utcnow()).total_seconds()
        if ahead > 0:
            return min(settings.notification_poll_seconds, ahead)
        rows = await outbox.claim(
            self._engine, self._keyring, free, settings.notification_lease_seconds
        )
        for row in rows:
            task = asyncio.create_task(self._deliver(row))
            self._inflight[task] = row
            task.add_done_callback(self._done)
        # All it asked for: more may be due (looked for once half the slots are free).
        # Fewer: the rest are claimed by others or not due yet.
        return 0 if len(rows) == free else settings.notification_poll_seconds

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()  # a slot is free

    async def _deliver(self, row: Claimed) -> None:
        channel = row.channel
        try:
            if utcnow() > row.give_up_at:  # e.g. it killed its worker on every attempt
                reason = f"gave up after {row.attempts - 1} attempts: past its day of retries"
                await self._record(row, channel, Sent("dead", reason))
                return
            if row.payload is None:
                sent = Sent("retry", "unreadable: sealed with a key this worker lacks")
            else:
                async with self._sessionmaker() as session:
                    destination = await self._destinations(session, row)
                channel = destination.channel
                # Only a claim with an attempt's time left is sent: past that, another
                # worker may take it over mid-send. (A wait for the pool can eat it.)
                left = row.started + self._settings.notification_lease_seconds - time.monotonic()
                if left < self._settings.notification_timeout_seconds + 1:
                    await outbox.release(self._engine, [row])
                    return
                self._sending.add(row.id)
                sent = await self._senders.send(destination, row.webhook_id, row.payload)
        except Undeliverable as exc:
            sent = Sent("dead", str(exc))
        except Exception:  # a bug or the database gone: tried again later, not lost
            log.exception("a notification attempt failed", notification_id=str(row.id))
            sent = Sent("retry", "internal error in agentcal; see its log")
        try:
            await self._record(row, channel, sent)
        except Exception:  # the database, or its pool, failed us: the lease brings it back
            log.warning(
                "could not record a notification attempt; it returns after its lease",
                notification_id=str(row.id),
                exc_info=True,
            )
        finally:
            self._sending.discard(row.id)

    async def _record(self, row: Claimed, channel: str, sent: Sent) -> None:
        settings = self._settings
        outcome = sent.outcome
        if sent.outcome == "delivered":
            kept = await outbox.delivered(self._engine, row, channel)
        else:
            retry_at = None
            if sent.outcome == "retry":
                retry_at = outbox.next_attempt(
                    row.attempts,
                    settings.notification_retry_waits,
                    row.give_up_at,
                    sent.retry_after,
                )
                if retry_at is None:
                    outcome = "dead"
            reason = sent.reason or "failed"
            if outcome == "dead" and sent.outcome == "retry":
                reason = f"gave up after {row.attempts} attempts: {reason}"
            kept = await outbox.failed(self._engine, row, channel, reason, retry_at)
        if kept:
            DELIVERIES.labels(channel, outcome).inc()
        else:
            log.warning(
                "a notification's claim lapsed during its attempt; another worker had it",
                notification_id=str(row.id),
            )
        log.info(
            "notification attempt",
            notification_id=str(row.id),
            channel=channel,
            outcome=outcome,
            attempt=row.attempts,
            reason=sent.reason,
            claim_kept=kept,
        )

    async def _finish_inflight(self) -> None:
        """Let sends in progress end within the time-out, then release what never
        started sending. A row cut off mid-send is left to its lease, its attempt
        counted: the receiver may have it already."""
        if not self._inflight:
            return
        grace = self._settings.notification_timeout_seconds + 2
        _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
        unfinished = [
            self._inflight[t]
            for t in pending
            if t in self._inflight and self._inflight[t].id not in self._sending
        ]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await outbox.release(self._engine, unfinished)
        except Exception:
            log.warning("could not release notifications; they return after their lease")
