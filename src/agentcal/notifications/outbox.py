"""The outbox: written with a call's audit record, claimed by workers, listed by the API.

A booking change's notification is inserted in the very transaction that records the
call (`enqueue`), so it exists exactly when the call's record does: a crash before the
commit loses both (and the call, replayed, writes both), a crash after it loses
neither. On PostgreSQL the transaction also sends `NOTIFY agentcal_outbox`, delivered
at commit, so idle workers in every process wake at once; in-process waiters are
woken by `wake_local`.

Workers take due rows with `claim`: one statement marks up to `limit` rows with the
worker's claim id and a lease end (on PostgreSQL, `FOR UPDATE SKIP LOCKED`, so
concurrent workers take disjoint rows and never wait for each other). A claimed row
is its worker's until the lease lapses: a worker that died gives its rows back by
doing nothing. Each attempt is counted when it is claimed, and a row claimed past its
give-up time ends dead without being sent, so a delivery that kills its worker every
time still comes to an end.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import utcnow
from agentcal.errors import Conflict, NotFound
from agentcal.kit.pagination import Page
from agentcal.kit.timestamps import iso_millis
from agentcal.notifications import templates
from agentcal.notifications.events import Notification
from agentcal.notifications.models import (
    DEAD,
    DELIVERED,
    PAYLOAD,
    PENDING,
    NotificationRecord,
)

log = structlog.get_logger("agentcal.notifications")

CHANNEL = "agentcal_outbox"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
_TABLE = cast(Table, NotificationRecord.__table__)

DELIVERIES = Counter(
    "agentcal_notification_deliveries_total",
    "Notification delivery attempts, by channel and outcome (delivered, retry, dead)",
    ["channel", "outcome"],
)
DEPTH = Gauge("agentcal_outbox_depth", "Notifications pending delivery, due or not")
OLDEST = Gauge(
    "agentcal_outbox_oldest_pending_seconds",
    "How long the oldest due notification has waited past its due time (0 if none)",
)

# Workers of this process waiting for work; `wake_local` sets them after a commit.
_waiting: set[asyncio.Event] = set()


def register(event: asyncio.Event) -> None:
    _waiting.add(event)


def unregister(event: asyncio.Event) -> None:
    _waiting.discard(event)


def wake_local() -> None:
    """Tell this process's workers that notifications were committed."""
    for event in _waiting:
        event.set()


@dataclass(frozen=True, slots=True)
class Origin:
    """The call a notification comes from, as its audit record names it."""

    institution_id: uuid.UUID
    function_kind: str
    function_id: uuid.UUID
    tool_call_id: uuid.UUID | None
    at: datetime


def document(origin: Origin, notification: Notification) -> dict[str, Any]:
    """The webhook body: the event, its time, the booking's facts and the rendered content."""
    facts = notification.booking
    assert facts is not None  # only booking changes are enqueued
    known = templates.values(notification.event, facts, notification.locale)
    content = templates.render(
        notification.template,
        notification.content_type,
        notification.event,
        known,
        notification.locale,
    )
    return {
        "type": notification.event,
        "timestamp": iso_millis(origin.at),
        "data": {
            "functionId": str(origin.function_id),
            "bookingId": facts.booking_id,
            "start": known["startIso"],
            "end": known["endIso"],
            "timeZone": facts.time_zone,
            "attendeeName": facts.attendee_name,
            "attendeeEmail": facts.attendee_email,
            "title": facts.title,
            "meetLink": facts.meet_link,
            "content": content,
        },
    }


async def enqueue(
    connection: AsyncConnection,
    keyring: Keyring,
    origin: Origin,
    notifications: Sequence[Notification],
    *,
    give_up_after: float,
) -> None:
    """Write the notifications in the caller's transaction (the audit record's)."""
    rows = []
    for notification in notifications:
        if notification.booking is None:
            continue
        row = NotificationRecord(id=uuid.uuid4())
        due = origin.at + timedelta(milliseconds=notification.delay_ms)
        status, error = PENDING, None
        try:
            PAYLOAD.seal(keyring, row, json.dumps(document(origin, notification)))
        except Exception:  # the booking is made: its record must be written regardless
            # A template saved before templates were checked, say. Kept, dead, so the
            # integrator sees why nothing arrived.
            log.warning(
                "a notification could not be rendered",
                function_id=str(origin.function_id),
                exc_info=True,
            )
            status, error = (
                DEAD,
                "template-error: the notificationContent could not be rendered; correct it",
            )
        rows.append(
            {
                "id": row.id,
                "institution_id": origin.institution_id,
                "function_kind": origin.function_kind,
                "function_id": origin.function_id,
                "tool_call_id": origin.tool_call_id,
                "event": notification.event,
                "channel": notification.type,
                "status": status,
                "last_error": error,
                "attempts": 0,
                "payload_ciphertext": row.payload_ciphertext,
                "payload_key_id": row.payload_key_id,
                "due_at": due,
                "give_up_at": due + timedelta(seconds=give_up_after),
                "created_at": origin.at,
            }
        )
    if not rows:
        return
    await connection.execute(insert(_TABLE), rows)
    if connection.dialect.name == "postgresql":
        await connection.execute(_NOTIFY)


# ------------------------------------------------------------------------- workers


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a worker holds: what it needs to send it and to record the outcome."""

    id: uuid.UUID
    claim_id: uuid.UUID
    function_kind: str
    function_id: uuid.UUID
    institution_id: uuid.UUID
    channel: str
    attempts: int
    give_up_at: datetime
    payload: str | None  # None: it could not be opened here
    started: float = field(default_factory=time.monotonic)  # when it was claimed

    @property
    def webhook_id(self) -> str:
        """The same for every attempt and redelivery: receivers drop duplicates by it."""
        return f"msg_{self.id.hex}"


def _due(now: datetime) -> Any:
    return and_(
        _TABLE.c.status == PENDING,
        _TABLE.c.due_at <= now,
        or_(_TABLE.c.lease_expires_at.is_(None), _TABLE.c.lease_expires_at < now),
    )


async def claim(engine: AsyncEngine, keyring: Keyring, limit: int, lease: float) -> list[Claimed]:
    """Take up to `limit` due rows for `lease` seconds, oldest due first."""
    now = utcnow()
    claim_id = uuid.uuid4()
    # Materialised, so that PostgreSQL runs the limited, locking selection once: as a
    # plain `IN (subquery)` its planner may re-run the subquery per row of a nested
    # loop and claim every due row, whatever the limit (seen with few rows in its
    # statistics). SQLite ignores FOR UPDATE; it serialises writers anyway.
    due = (
        select(_TABLE.c.id)
        .where(_due(now))
        .order_by(_TABLE.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(select(due.c.id)), _due(now))
        .values(
            claim_id=claim_id,
            lease_expires_at=now + timedelta(seconds=lease),
            attempts=_TABLE.c.attempts + 1,
        )
        .returning(
            _TABLE.c.id,
            _TABLE.c.function_kind,
            _TABLE.c.function_id,
            _TABLE.c.institution_id,
            _TABLE.c.channel,
            _TABLE.c.attempts,
            _TABLE.c.give_up_at,
            _TABLE.c.payload_ciphertext,
            _TABLE.c.payload_key_id,
        )
    )
    async with engine.begin() as connection:
        rows = (await connection.execute(statement)).all()
    claimed = []
    for row in rows:
        try:
            payload = PAYLOAD.open(keyring, row)
        except Exception:  # sealed under a key this process lacks (a rotation under way)
            payload = None
        claimed.append(
            Claimed(
                row.id,
                claim_id,
                row.function_kind,
                row.function_id,
                row.institution_id,
                row.channel,
                row.attempts,
                row.give_up_at,
                payload,
            )
        )
    return claimed


_MINE = and_(_TABLE.c.id == bindparam("row_id"), _TABLE.c.claim_id == bindparam("claim"))
_CLEAR_CLAIM = {"claim_id": None, "lease_expires_at": None}


async def _settle(engine: AsyncEngine, row: Claimed, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome and end the claim; False if the claim was no longer
    this worker's (its lease lapsed and another took it)."""
    async with engine.begin() as connection:
        done = await connection.execute(
            update(_TABLE).where(_MINE).values(**values, **_CLEAR_CLAIM),
            {"row_id": row.id, "claim": row.claim_id},
        )
    return done.rowcount == 1


async def delivered(engine: AsyncEngine, row: Claimed, channel: str) -> bool:
    """Record a delivery."""
    values = {"status": DELIVERED, "delivered_at": utcnow(), "last_error": None}
    return await _settle(engine, row, {**values, "channel": channel})


async def failed(
    engine: AsyncEngine, row: Claimed, channel: str, reason: str, retry_at: datetime | None
) -> bool:
    """Record a failed attempt: pending again from `retry_at`, or dead without one."""
    values: dict[str, Any] = {"last_error": reason[:500], "channel": channel}
    if retry_at is None:
        values["status"] = DEAD
    else:
        values["due_at"] = retry_at
    return await _settle(engine, row, values)


async def release(engine: AsyncEngine, rows: Sequence[Claimed]) -> None:
    """Give back claimed rows whose send never started (a worker stopping, a claim
    grown too old to send safely): due again at once, their attempt uncounted."""
    if not rows:
        return
    statement = (
        update(_TABLE)
        .where(_MINE, _TABLE.c.status == PENDING)
        .values(attempts=_TABLE.c.attempts - 1, **_CLEAR_CLAIM)
    )
    async with engine.begin() as connection:
        await connection.execute(statement, [{"row_id": r.id, "claim": r.claim_id} for r in rows])


def next_attempt(
    attempts: int, waits: Sequence[float], give_up_at: datetime, at_least: float = 0.0
) -> datetime | None:
    """When to try again after `attempts` attempts (None: give up), ±20 % jitter, and
    never before `at_least` seconds (a receiver's Retry-After)."""
    wait = waits[min(max(attempts, 1), len(waits)) - 1]
    wait = max(wait * random.uniform(0.8, 1.2), at_least)  # noqa: S311 - not a secret
    when = utcnow() + timedelta(seconds=wait)
    return None if when > give_up_at else when


async def next_due(engine: AsyncEngine) -> datetime | None:
    """When the earliest pending row falls due (or its lease lapses): a read, so an idle
    worker looks without taking SQLite's write lock."""
    query = select(func.min(func.coalesce(_TABLE.c.lease_expires_at, _TABLE.c.due_at))).where(
        _TABLE.c.status == PENDING
    )
    async with engine.connect() as connection:
        value = (await connection.execute(query)).scalar()
    return cast(datetime | None, value)


async def measure(engine: AsyncEngine) -> None:
    """Set the outbox gauges: pending depth, and how late the oldest due one is."""
    now = utcnow()
    query = select(func.count(), func.min(_TABLE.c.due_at)).where(_TABLE.c.status == PENDING)
    async with engine.connect() as connection:
        count, oldest = (await connection.execute(query)).one()
    DEPTH.set(count)
    OLDEST.set(0 if oldest is None else max(0.0, (now - oldest).total_seconds()))


# ------------------------------------------------------------------------- the API


async def list_for(
    session: AsyncSession,
    institution_id: uuid.UUID,
    function_id: uuid.UUID | None,
    status: str | None,
    page: Page,
) -> list[NotificationRecord]:
    query = select(NotificationRecord).where(NotificationRecord.institution_id == institution_id)
    if function_id is not None:
        query = query.where(NotificationRecord.function_id == function_id)
    if status is not None:
        query = query.where(NotificationRecord.status == status)
    query = query.order_by(NotificationRecord.created_at.desc(), NotificationRecord.id)
    return list(await session.scalars(query.offset(page.offset).limit(page.fetch)))


async def redeliver(
    session: AsyncSession,
    institution_id: uuid.UUID,
    notification_id: uuid.UUID,
    give_up_after: float,
) -> NotificationRecord:
    """Queue a notification again, due now, with a fresh schedule of attempts.

    One conditional UPDATE, so that it cannot undo a worker's claim made between a
    read and a write (on SQLite nothing locks the row read first).
    """
    now = utcnow()
    mine = and_(_TABLE.c.id == notification_id, _TABLE.c.institution_id == institution_id)
    # Written out in full: `lease > now` alone is NULL for an unclaimed row, and
    # NOT NULL would refuse to redeliver every pending row that nobody holds.
    being_sent = and_(
        _TABLE.c.status == PENDING,
        _TABLE.c.lease_expires_at.is_not(None),
        _TABLE.c.lease_expires_at > now,
    )
    queued = await session.execute(
        update(_TABLE)
        .where(mine, ~being_sent)
        .values(
            status=PENDING,
            attempts=0,
            due_at=now,
            give_up_at=now + timedelta(seconds=give_up_after),
            delivered_at=None,
            claim_id=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    row = await session.scalar(
        select(NotificationRecord)
        .where(NotificationRecord.id == notification_id)
        .where(NotificationRecord.institution_id == institution_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("notification", notification_id)
    if queued.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"notification {notification_id} is being delivered right now; "
            "see its status in a moment"
        )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_NOTIFY)
    return row
