"""The bookings index: the bookings agentcal made, found again by the attendee's phone or e-mail.

A caller asks for "my appointment" by the number they call from, or by their e-mail,
without a booking id. Neither value is stored: an entry keeps keyed hashes (HMAC under
the keyring's current key) of the normalised e-mail (trimmed, casefolded) and of the
E.164 phone (a number without a country code is read in the country of the function's
timezone). Each hash is bound to its function, so one person's entries cannot be
linked across functions, and no one without the key can test a guess against them.
A lookup asks with the hashes under every configured key: entries written before a
key rotation are still found.

A provider's handler says what its call changed (`Change`, in its `Outcome`); the
runtime writes it with the call's audit record (`record`), in one transaction. The
provider stays the truth: an entry says where to look, and is read back from the
provider before anything is answered from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentcal.bookings.models import BookingEntry
from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import utcnow
from agentcal.kit.phones import e164, region_of_zone

__all__ = [
    "BOOKED",
    "CANCELLED",
    "Attendee",
    "Change",
    "Entry",
    "Hashes",
    "Lookup",
    "normal_email",
    "normal_phone",
    "record",
    "upcoming",
    "within",
]

BOOKED, CANCELLED = "booked", "cancelled"

_TABLE = cast(Table, BookingEntry.__table__)


def normal_email(text: str | None) -> str | None:
    """An e-mail address as the index hashes it: trimmed and casefolded."""
    folded = (text or "").strip().casefold()
    return folded or None


def normal_phone(text: str | None, zone: str) -> str | None:
    """A phone number as E.164, one without a country code read in the country of
    `zone` (the function's timezone); None when it is no valid number."""
    if text is None or not text.strip():
        return None
    return e164(text, region_of_zone(zone))


def _message(function_id: uuid.UUID, field: str, value: str) -> bytes:
    return f"agentcal booking {field}:{function_id}:{value}".encode()


@dataclass(frozen=True, slots=True)
class Hashes:
    """An attendee as an entry keeps them: hashes under the current key."""

    email: str | None = None
    phone: str | None = None

    def __bool__(self) -> bool:
        return self.email is not None or self.phone is not None


@dataclass(frozen=True, slots=True)
class Lookup:
    """An attendee as a lookup asks for them: hashes under every configured key."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones)


@dataclass(frozen=True, slots=True)
class Attendee:
    """Who a booking is for, normalised (`normal_email`, `normal_phone`). Held in memory
    only: what leaves it for the index is `hashes` or `lookup`."""

    email: str | None = None
    phone: str | None = None  # E.164

    @classmethod
    def of(cls, email: str | None, phone: str | None, zone: str) -> Attendee:
        """From the values as given; a phone that is no valid number is left out."""
        return cls(normal_email(email), normal_phone(phone, zone))

    def hashes(self, keyring: Keyring, function_id: uuid.UUID) -> Hashes:
        def one(field: str, value: str | None) -> str | None:
            if value is None:
                return None
            return keyring.fingerprint(_message(function_id, field, value))

        return Hashes(one("email", self.email), one("phone", self.phone))

    def lookup(self, keyring: Keyring, function_id: uuid.UUID) -> Lookup:
        def every(field: str, value: str | None) -> frozenset[str]:
            if value is None:
                return frozenset()
            return keyring.fingerprints(_message(function_id, field, value))

        return Lookup(every("email", self.email), every("phone", self.phone))


@dataclass(frozen=True, slots=True)
class Change:
    """What one call did to one booking, for the index.

    `booking_id` is the provider's id of the booking the call acted on. A move that
    gives the booking a new id (a provider may answer a reschedule with a new booking)
    names it in `new_id`. `attendee` lets the index take in a booking it did not hold (one
    made elsewhere, then moved through agentcal).
    """

    booking_id: str
    status: str = BOOKED
    start: datetime | None = None
    end: datetime | None = None
    new_id: str | None = None
    attendee: Hashes | None = None

    @classmethod
    def booked(cls, booking_id: str, start: datetime, end: datetime, attendee: Hashes) -> Change:
        return cls(booking_id, BOOKED, start, end, attendee=attendee)

    @classmethod
    def cancelled(cls, booking_id: str) -> Change:
        return cls(booking_id, CANCELLED)

    @classmethod
    def moved(
        cls,
        booking_id: str,
        start: datetime,
        end: datetime,
        *,
        new_id: str | None = None,
        attendee: Hashes | None = None,
    ) -> Change:
        return cls(booking_id, BOOKED, start, end, new_id=new_id, attendee=attendee)


@dataclass(frozen=True, slots=True)
class Entry:
    """A live booking as the index last saw it."""

    booking_id: str
    start: datetime
    end: datetime


# ----------------------------------------------------------------------------- reads


def _theirs(kind: str, function_id: uuid.UUID, lookup: Lookup) -> list[ColumnElement[bool]]:
    matches: list[ColumnElement[bool]] = []
    if lookup.emails:
        matches.append(_TABLE.c.email_hmac.in_(sorted(lookup.emails)))
    if lookup.phones:
        matches.append(_TABLE.c.phone_hmac.in_(sorted(lookup.phones)))
    return [
        _TABLE.c.function_kind == kind,
        _TABLE.c.function_id == function_id,
        _TABLE.c.status == BOOKED,
        or_(*matches) if matches else false(),
    ]


async def _entries(engine: AsyncEngine, *where: ColumnElement[bool], limit: int) -> list[Entry]:
    statement = (
        select(_TABLE.c.provider_booking_id, _TABLE.c.start_at, _TABLE.c.end_at)
        .where(*where)
        .order_by(_TABLE.c.start_at, _TABLE.c.provider_booking_id)
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [Entry(row[0], row[1], row[2]) for row in rows]


async def upcoming(
    engine: AsyncEngine,
    kind: str,
    function_id: uuid.UUID,
    lookup: Lookup,
    *,
    after: datetime,
    limit: int,
) -> list[Entry]:
    """The attendee's live bookings on the function that start after `after`, soonest first."""
    if not lookup:
        return []
    where = _theirs(kind, function_id, lookup)
    return await _entries(engine, *where, _TABLE.c.start_at > after, limit=limit)


async def within(
    engine: AsyncEngine,
    kind: str,
    function_id: uuid.UUID,
    lookup: Lookup,
    start: datetime,
    end: datetime,
) -> list[Entry]:
    """The attendee's live bookings on the function that start in `[start, end)`."""
    if not lookup:
        return []
    where = _theirs(kind, function_id, lookup)
    return await _entries(
        engine, *where, _TABLE.c.start_at >= start, _TABLE.c.start_at < end, limit=50
    )


# ---------------------------------------------------------------------------- writes


def _insert(connection: AsyncConnection, values: dict[str, Any]) -> Any:
    """An insert that, should the booking be there already (a call that resumed after
    a crash records its booking again), brings that entry up to date instead."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_TABLE).values(**values)
    keep = {"id", "institution_id", "function_kind", "function_id", "provider_booking_id"}
    keep.add("created_at")
    return statement.on_conflict_do_update(
        index_elements=["function_kind", "function_id", "provider_booking_id"],
        set_={name: statement.excluded[name] for name in values if name not in keep},
    )


async def record(
    connection: AsyncConnection,
    institution_id: uuid.UUID,
    kind: str,
    function_id: uuid.UUID,
    changes: Iterable[Change],
) -> None:
    """Write what the calls changed, in the caller's transaction (the call's record's).

    A cancel or a move of a booking the index does not hold, and knows nothing about
    the attendee of, is no entry: nobody could find it by phone or e-mail anyway.
    """
    for change in changes:
        mine = (
            _TABLE.c.function_kind == kind,
            _TABLE.c.function_id == function_id,
        )
        values: dict[str, Any] = {"status": change.status, "updated_at": utcnow()}
        if change.start is not None and change.end is not None:
            values |= {"start_at": change.start, "end_at": change.end}
        booking_id = change.booking_id
        if change.new_id is not None and change.new_id != booking_id:
            # A stale entry under the new id (none is expected) must not block the rename.
            await connection.execute(
                delete(_TABLE).where(*mine, _TABLE.c.provider_booking_id == change.new_id)
            )
            values["provider_booking_id"] = booking_id = change.new_id
        attendee = change.attendee or Hashes()
        if attendee.email is not None:
            values["email_hmac"] = attendee.email
        if attendee.phone is not None:
            values["phone_hmac"] = attendee.phone
        updated = await connection.execute(
            update(_TABLE)
            .where(*mine, _TABLE.c.provider_booking_id == change.booking_id)
            .values(**values)
        )
        if updated.rowcount or not attendee or "start_at" not in values:
            continue
        if change.status != BOOKED:
            continue
        now = values["updated_at"]
        values |= {
            "id": uuid.uuid4(),
            "institution_id": institution_id,
            "function_kind": kind,
            "function_id": function_id,
            "provider_booking_id": booking_id,
            "created_at": now,
        }
        await connection.execute(_insert(connection, values))
