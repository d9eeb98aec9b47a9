"""Finding a caller's bookings, the part every provider shares.

`find_booking` answers a person's upcoming bookings on one calendar, and
`cancel_booking` / `reschedule_booking` take a booking by its attendee (e-mail or
phone) and start instead of its id. A provider looks in two places and merges them:
agentcal's bookings index (`agentcal.bookings.index`: what agentcal booked, by phone
or e-mail) and its own search where it has one (by e-mail), which also finds bookings
made elsewhere. Entries of the index are read back from the provider before they are
answered: a booking cancelled or moved outside agentcal is not answered as it was.

The steps are the same on every provider (`find`, `one_at`); what a provider adds is a
`Source`: how it reads one booking back, and how it searches for the person's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from agentcal.bookings import index
from agentcal.bookings.index import Attendee, Change
from agentcal.providers import results
from agentcal.providers.base import (
    MAX_CONTENT,
    AmbiguousBooking,
    BookingNotFound,
    InvalidArguments,
    Outcome,
    Services,
    ToolSpec,
)
from agentcal.scheduling.phrases import speakable, speakable_span, speakable_times, zone_name
from agentcal.scheduling.speech import current, say

MAX_FOUND = 5  # bookings `find_booking` answers: a listener remembers no more
# Index entries read back from the provider per search: enough for five live ones
# when a few were cancelled or moved outside agentcal.
MAX_CANDIDATES = 10


def attendee(spec: ToolSpec, email: str | None, phone: str | None) -> Attendee:
    """The person the arguments name, normalised; a phone number is read in the country
    of the function's timezone. A phone that is no number is an error only when it is
    all there is to go by (on a call the platform's caller id may be no number at all)."""
    found = Attendee.of(email, phone, spec.timezone)
    if found.email is None and found.phone is None:
        raise InvalidArguments(
            say(
                "attendeePhone {phone} is not a phone number; ask for the number with its "
                "area code, or for the attendee's e-mail.",
                phone=repr(phone),
            )
        )
    return found


def who(person: Attendee) -> str:
    """How the sentences name the person: as they were asked for."""
    if person.email and person.phone:
        return say("{email} or {phone}", email=person.email, phone=person.phone)
    return person.email or person.phone or ""


@dataclass(frozen=True, slots=True)
class Found:
    """A live booking of the person, as the provider has it now."""

    booking_id: str
    start: datetime
    end: datetime
    title: str | None = None


def soonest(found: Iterable[Found], after: datetime) -> list[Found]:
    """The bookings that start after `after`, without repeats, soonest first, at most 5."""
    unique = {f.booking_id: f for f in found if f.start > after}
    return sorted(unique.values(), key=lambda f: (f.start, f.booking_id))[:MAX_FOUND]


def _item(found: Found, tz: ZoneInfo) -> str:
    when = speakable_span(found.start, found.end, tz)
    if found.title:
        return say(
            "{title}, {when}, booking id {booking_id}",
            title=found.title,
            when=when,
            booking_id=found.booking_id,
        )
    return say("{when}, booking id {booking_id}", when=when, booking_id=found.booking_id)


def found_content(spec: ToolSpec, person: Attendee, found: list[Found], tz: ZoneInfo) -> str:
    """A short list of the bookings: as many as fit in a result, the rest counted."""
    if not found:
        return say(
            "{who} has no upcoming bookings on {calendar}.", who=who(person), calendar=spec.title
        )
    items = [_item(f, tz) for f in found]
    for shown in range(len(items), 0, -1):
        listed = "; ".join(items[:shown])
        if shown < len(items):
            listed = say("{listed}; and {more} more", listed=listed, more=len(items) - shown)
        if current().voice:  # heard: the zone is named once, at the end of the result
            text = say("Upcoming bookings of {who}: {listed}.", who=who(person), listed=listed)
        else:
            text = say(
                "Upcoming bookings of {who} ({zone}): {listed}.",
                who=who(person),
                zone=zone_name(tz),
                listed=listed,
            )
        if len(text) <= MAX_CONTENT:
            return text
    return text


def found_outcome(
    spec: ToolSpec,
    person: Attendee,
    found: list[Found],
    tz: ZoneInfo,
    changes: Iterable[Change] = (),
) -> Outcome:
    """`find_booking`'s answer; `changes`: what the search learned the index had wrong."""
    data: dict[str, Any] = {
        "timeZone": zone_name(tz),
        "bookings": [
            {"bookingId": f.booking_id, "title": f.title, **results.slot_data(f.start, f.end, tz)}
            for f in found
        ],
    }
    return Outcome(found_content(spec, person, found, tz), data, bookings=tuple(changes))


def not_found(
    person: Attendee,
    start: datetime,
    tz: ZoneInfo,
    that_day: Iterable[datetime] = (),
    data: dict[str, Any] | None = None,
) -> BookingNotFound:
    """No live booking of the person starts at `start`; `that_day`: the starts of the
    ones they have on its local day, to be told."""
    message = say(
        "There is no active booking of {who} starting at {when} on this calendar; check "
        "the time, find their bookings with find_booking, or use the bookingId.",
        who=who(person),
        when=speakable(start, tz),
    )
    starts = sorted(that_day)
    if starts:
        message += " " + say(
            "That day their bookings start at {starts}.", starts=speakable_times(starts, tz)
        )
    return BookingNotFound(message, data=data)


def ambiguous(person: Attendee, count: int, data: dict[str, Any]) -> AmbiguousBooking:
    return AmbiguousBooking(
        say(
            "{count} bookings of {who} start at that time; give the bookingId of the one you mean.",
            count=count,
            who=who(person),
        ),
        data=data,
    )


# ------------------------------------------------------------- the steps, on any provider

B = TypeVar("B")  # a booking as the provider's client answers it


@dataclass(frozen=True, slots=True)
class Source(Generic[B]):
    """What a provider adds to the steps of finding: its bookings of the person."""

    # The booking as a `Found`: its id, start, end and title.
    found: Callable[[B], Found]
    # A booking read back by its id as it is now, following a move to a new id; None
    # when it is gone or no longer live.
    read: Callable[[str], Awaitable[B | None]]
    # The provider's own search: the person's live bookings that start from then on.
    upcoming: Callable[[datetime], Awaitable[list[B]]]
    # The same, of those that start in `[start, end)`.
    within: Callable[[datetime, datetime], Awaitable[list[B]]]
    # The `data` of an answer that lists these bookings (ambiguous, or not found).
    data: Callable[[list[B]], dict[str, Any]]


async def _read_back(
    source: Source[B], entries: Sequence[index.Entry], searched: list[B]
) -> tuple[list[B], list[Change]]:
    """The bookings the search found, and the index's entries read back from the provider
    (those the search did not find already); what the index has wrong, to correct."""
    have = {source.found(b).booking_id: b for b in searched}
    missing = [e for e in entries if e.booking_id not in have]
    read = await asyncio.gather(*(source.read(e.booking_id) for e in missing))
    current = dict(zip((e.booking_id for e in missing), read, strict=True)) | have
    bookings, changes = list(searched), []
    for entry in entries:
        booking = current[entry.booking_id]
        if booking is None:  # cancelled or deleted outside agentcal
            changes.append(Change.cancelled(entry.booking_id))
            continue
        found = source.found(booking)
        moved_to = found.booking_id if found.booking_id != entry.booking_id else None
        if moved_to or (found.start, found.end) != (entry.start, entry.end):
            changes.append(Change.moved(entry.booking_id, found.start, found.end, new_id=moved_to))
        if entry.booking_id not in have:
            bookings.append(booking)
    return bookings, changes


def _lookup(services: Services, spec: ToolSpec, person: Attendee) -> index.Lookup:
    return person.lookup(services.keyring, spec.function_id)


async def find(
    services: Services,
    kind: str,
    spec: ToolSpec,
    person: Attendee,
    source: Source[B],
    now: datetime,
    tz: ZoneInfo,
) -> Outcome:
    """`find_booking`: the person's live bookings from `now` on, at most 5, soonest first,
    from the index (read back) and the provider's search; the index's errors corrected."""
    lookup = _lookup(services, spec, person)
    entries = await index.upcoming(
        services.engine, kind, spec.function_id, lookup, after=now, limit=MAX_CANDIDATES
    )
    bookings, changes = await _read_back(source, entries, await source.upcoming(now))
    found = soonest((source.found(b) for b in bookings), now)
    return found_outcome(spec, person, found, tz, changes)


async def one_at(
    services: Services,
    kind: str,
    spec: ToolSpec,
    person: Attendee,
    source: Source[B],
    start: datetime,
    window: tuple[datetime, datetime],
    tz: ZoneInfo,
) -> B:
    """The one live booking of the person that starts at `start`, for a cancel or a move
    by attendee and start; `window` (around `start`): where else to look, so the answer
    can tell the person's other bookings there."""
    lookup = _lookup(services, spec, person)
    entries = await index.within(services.engine, kind, spec.function_id, lookup, *window)
    bookings, _ = await _read_back(source, entries, await source.within(*window))
    theirs: dict[str, tuple[Found, B]] = {}
    for booking in bookings:
        found = source.found(booking)
        if window[0] <= found.start < window[1]:
            theirs[found.booking_id] = (found, booking)
    ordered = sorted(theirs.values(), key=lambda pair: (pair[0].start, pair[0].booking_id))
    exact = [booking for found, booking in ordered if found.start == start]
    if len(exact) > 1:
        raise ambiguous(person, len(exact), source.data(exact))
    if not exact:
        starts = [found.start for found, _ in ordered]
        raise not_found(person, start, tz, starts, data=source.data([b for _, b in ordered]))
    return exact[0]
