"""Finding a caller's bookings, the part every provider shares.

`find_booking` answers a person's upcoming bookings on one calendar, and
`cancel_booking` / `reschedule_booking` take a booking by its attendee (e-mail or
phone) and start instead of its id. A provider looks in two places and merges them:
agentcal's bookings index (`agentcal.bookings.index`: what agentcal booked, by phone
or e-mail) and its own search where it has one (by e-mail), which also finds bookings
made elsewhere. Entries of the index are read back from the provider before they are
answered: a booking cancelled or moved outside agentcal is not answered as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.bookings.index import Attendee, Change
from agentcal.providers import results
from agentcal.providers.base import (
    MAX_CONTENT,
    AmbiguousBooking,
    BookingNotFound,
    InvalidArguments,
    Outcome,
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
