"""Cal.com bookings: availability from `/v2/slots`, bookings re-checked under a lock.

Cal.com computes free slots itself (working hours, buffers, other bookings), so an
availability check is one `/v2/slots` request for the event type, for the week from the
day asked; its answer is kept briefly (`providers.availability`) and serves the next
questions about that week. A booking never relies on it: it is re-checked live and
made under the calendar's lock (`calcom:<username>`), so two of agentcal's own calls can
never book one slot twice; Cal.com refuses what it knows to be taken meanwhile, and the
caller then hears the nearest free times.

Cal.com takes no booking id from its client, so a booking made by a tool call with an
id carries the call in its `metadata` instead (`call_tag` of its idempotency key). A
call taken over from a process that died mid-call (`CallContext.resumed`) first looks
among the attendee's bookings for the one carrying its tag, and answers from it: the
dead call may have booked before it could record the booking, and the re-check would
then find the slot taken by the call itself.

A caller's bookings are found (`find_booking`, and cancel or move by attendee and start)
in agentcal's bookings index, each read back from Cal.com, and by Cal.com's own search
by attendee e-mail (`GET /v2/bookings?attendeeEmail=`), which also finds bookings made
elsewhere. Cal.com cannot search by phone: a phone finds what agentcal booked.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.bookings import index
from agentcal.db.caches import TtlCache
from agentcal.db.locks import KeyedLocks, calendar_lock
from agentcal.providers import finding, results
from agentcal.providers.arguments import (
    CancelBookingArguments,
    FindBookingArguments,
    RescheduleBookingArguments,
)
from agentcal.providers.availability import AvailabilityCache
from agentcal.providers.base import (
    CallContext,
    EventTypeRequired,
    Outcome,
    ProviderError,
    Services,
    ToolSpec,
)
from agentcal.providers.calcom.client import Booking, CalcomClient, EventType, Slot
from agentcal.providers.calcom.errors import (
    CalcomNotFound,
    CalcomRequestError,
    CalcomSlotUnavailable,
)
from agentcal.providers.calcom.models import API_KEY, CalcomIntegration
from agentcal.providers.calcom.tools import (
    KIND,
    CalcomAvailabilityArguments,
    CalcomBookingArguments,
)
from agentcal.scheduling.phrases import iso_local, speakable_span, zone_name
from agentcal.scheduling.speech import say
from agentcal.scheduling.times import check_range, check_start, day_start, parse_range, parse_start
from agentcal.settings import Settings

# The `metadata` key under which a booking carries the tool call that made it.
CALL_METADATA_KEY = "agentcalCall"
# Event types change in Cal.com, out of agentcal's sight, and rarely: a minute's
# delay is the price of not fetching them before every availability check.
EVENT_TYPES_SECONDS = 60.0
EventTypesKey = tuple[str, str]  # (API key hash, username)
# A question about one day asks Cal.com for the week from that day: the next days'
# questions are then answered from the availability cache.
PREFETCH = timedelta(days=7)


def event_types_cache(cache_seconds: float) -> TtlCache[EventTypesKey, list[EventType]]:
    """Off when caching is off (`AGENTCAL_CACHE_SECONDS=0`)."""
    return TtlCache((), ttl=EVENT_TYPES_SECONDS if cache_seconds > 0 else 0)


@dataclass(slots=True)
class CalcomRuntime:
    """What Cal.com calls need for the app's life: the client and the event types seen."""

    services: Services
    client: CalcomClient
    event_types: TtlCache[EventTypesKey, list[EventType]] = field(
        default_factory=lambda: event_types_cache(0)
    )
    # One fetch of a user's event types at a time: concurrent calls on a cold cache wait
    # for the first one's answer instead of each asking Cal.com.
    event_type_fetches: KeyedLocks = field(default_factory=KeyedLocks)
    # Cal.com's slots by (integration, event type), for availability questions only.
    availability: AvailabilityCache[list[Slot]] = field(
        default_factory=lambda: AvailabilityCache(0)
    )

    async def aclose(self) -> None:
        await self.client.aclose()


def start(settings: Settings, services: Services) -> CalcomRuntime:
    return CalcomRuntime(
        services,
        CalcomClient(settings.calcom_api_url),
        event_types_cache(settings.cache_seconds),
        availability=AvailabilityCache(
            settings.availability_fresh_seconds, settings.availability_deadline
        ),
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """The integration, its key and the event type a call is about."""

    integration: CalcomIntegration
    api_key: str
    event_type: EventType


def _integration(runtime: CalcomRuntime, spec: ToolSpec) -> tuple[CalcomIntegration, str]:
    row = spec.row
    assert isinstance(row, CalcomIntegration)  # the catalog keeps every tool's row
    api_key = API_KEY.open(runtime.services.keyring, row)
    assert api_key is not None  # NOT NULL column
    return row, api_key


def _types_key(api_key: str, username: str) -> EventTypesKey:
    return hashlib.sha256(api_key.encode()).hexdigest(), username


async def _event_types(runtime: CalcomRuntime, api_key: str, username: str) -> list[EventType]:
    """The user's event types, fetched at most once a minute (`event_types_cache`)."""
    key, cache = _types_key(api_key, username), runtime.event_types
    types = cache.get(key)
    if types is not None:
        return types
    async with runtime.event_type_fetches.hold(key):
        types = cache.get(key)  # fetched while this call waited
        if types is None:
            generation = cache.generation
            types = await runtime.client.event_types(api_key, username)
            cache.put(key, types, generation)
    return types


async def _target(runtime: CalcomRuntime, spec: ToolSpec, wanted: str | None) -> _Target:
    """The event type: the argument, else the integration's default, else the only one."""
    row, api_key = _integration(runtime, spec)
    types = await _event_types(runtime, api_key, row.calcom_username)
    if wanted is None and row.default_event_type_id is not None:
        match = [t for t in types if t.id == row.default_event_type_id]
    elif wanted is None and row.default_event_type_slug:
        match = [t for t in types if t.slug == row.default_event_type_slug]
    elif wanted is None:
        match = types if len(types) == 1 else []
    else:
        match = [t for t in types if t.slug == wanted]
    if len(match) != 1:
        slugs = ", ".join(t.slug for t in types) or say("none")
        reason = (
            say("there is no event type {slug}", slug=repr(wanted))
            if wanted
            else say("several event types exist")
        )
        listed = [{"slug": t.slug, "lengthInMinutes": t.length_in_minutes} for t in types]
        raise EventTypeRequired(
            say(
                "Say which event type to use ({reason}); pass eventTypeSlug, one of: {slugs}.",
                reason=reason,
                slugs=slugs,
            ),
            data={"eventTypes": listed},
        )
    return _Target(row, api_key, match[0])


def _forget_event_types(runtime: CalcomRuntime, target: _Target) -> None:
    """Cal.com refused the cached event type (404, 400): perhaps it was changed or deleted
    since it was cached, so the next call fetches the list again."""
    username = target.integration.calcom_username
    runtime.event_types.discard(_types_key(target.api_key, username))


async def _slots(
    runtime: CalcomRuntime, target: _Target, start: datetime, end: datetime, tz: ZoneInfo
) -> list[Slot]:
    """Cal.com's free slots starting in `[start, end)`, asked now."""
    try:
        return await runtime.client.slots(
            target.api_key,
            start=start,
            end=end,
            time_zone=zone_name(tz),
            event_type_id=target.event_type.id,
        )
    except (CalcomNotFound, CalcomRequestError):
        _forget_event_types(runtime, target)
        raise


def _pairs(target: _Target, slots: list[Slot]) -> list[tuple[datetime, datetime]]:
    length = timedelta(minutes=target.event_type.length_in_minutes)
    return [(s.start, s.end or s.start + length) for s in slots]


async def _free(
    runtime: CalcomRuntime, target: _Target, start: datetime, end: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Free slots asked of Cal.com now: what a booking and its alternatives rely on."""
    return _pairs(target, await _slots(runtime, target, start, end, tz))


async def check_availability(
    runtime: CalcomRuntime, spec: ToolSpec, args: CalcomAvailabilityArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    window = parse_range(args.start_date, args.end_date, tz)
    now = results.now()
    check_range(window, now=now, tz=tz)
    target = await _target(runtime, spec, args.event_type_slug)
    start = max(window.start, now)

    async def fetch(begin: datetime, end: datetime) -> list[Slot]:
        return await _slots(runtime, target, begin, end, tz)

    # Slots are instants: the answer holds for any time zone the question is asked in.
    answer = await runtime.availability.answer(
        (KIND, spec.function_id),
        target.event_type.id,
        start,
        window.end,
        fetch,
        wide=(start, max(window.end, window.start + PREFETCH)),
    )
    # A kept answer may hold slots that have passed since, or that lie outside the range.
    slots = _pairs(target, [s for s in answer.value if start <= s.start < window.end])
    minutes = target.event_type.length_in_minutes
    content = results.slots_content(spec.title, slots, tz, window.start, window.end, minutes)
    if window.notes:
        content = " ".join(window.notes) + " " + content
    if stale := answer.stale_note():
        content = f"{stale} {content}"
    event_type = target.event_type
    return Outcome(
        content,
        {
            "timeZone": zone_name(tz),
            "eventType": {"id": event_type.id, "slug": event_type.slug, "lengthInMinutes": minutes},
            "range": {"start": iso_local(window.start, tz), "end": iso_local(window.end, tz)},
            "slots": [results.slot_data(s, e, tz) for s, e in slots],
            **answer.stamp(),
        },
    )


async def _alternatives(
    runtime: CalcomRuntime, target: _Target, start: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Free slots around `start` (its local day and the two after), nearest first."""
    now = results.now()
    day = day_start(start.astimezone(tz).date(), tz)
    slots = await _free(runtime, target, max(day, now), day + timedelta(days=3), tz)
    return results.nearest(slots, start)


def _booking_data(booking: Booking, tz: ZoneInfo, target: _Target | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bookingId": booking.uid,
        "status": booking.status,
        "timeZone": zone_name(tz),
        **results.slot_data(booking.start, booking.end, tz),
    }
    if target is not None:
        data["eventType"] = {"id": target.event_type.id, "slug": target.event_type.slug}
    if booking.attendees:
        data["attendee"] = {"name": booking.attendees[0].name, "email": booking.attendees[0].email}
    if booking.location:
        data["location"] = booking.location
    return data


def call_tag(key: str) -> str:
    """What a booking made by the tool call with idempotency key `key` carries in its
    metadata: the same for every repeat of the call, wherever it runs. A hash, as the
    key (a bot's id and the caller's call id) means nothing to Cal.com."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_booking(
    runtime: CalcomRuntime, spec: ToolSpec, args: CalcomBookingArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    start = parse_start(args.start, tz)
    check_start(start.at, now=results.now(), tz=tz, min_notice_minutes=0)
    target = await _target(runtime, spec, args.event_type_slug)
    length = timedelta(minutes=target.event_type.length_in_minutes)
    person = index.Attendee.of(args.attendee_email, args.attendee_phone, spec.timezone)
    tag = call_tag(context.key) if context.key is not None else None
    # One booking per slot: re-check and book under the calendar's lock.
    lock = f"calcom:{target.integration.calcom_username}"
    # Alternatives for a taken slot are looked up after the lock is released: callers
    # queued behind a winner must not each hold the calendar for two more requests.
    booking = None
    services = runtime.services
    async with calendar_lock(services.engine, services.calendar_locks, lock):
        if context.resumed and tag is not None:
            # The dead process may have booked already: its booking would make the
            # re-check below answer slot_unavailable to the call that made it.
            booking = await _own_booking(runtime, target, args, start.at, tag)
        if booking is None:
            free = await _free(runtime, target, start.at, start.at + length, tz)
            if any(s == start.at for s, _ in free):
                booking = await _book(runtime, target, start.at, tz, args, person.phone, tag)
    if booking is None and tag is not None and not context.resumed:
        # Perhaps taken by this very call: a first run whose claim was released or
        # taken over unnoticed (a cancelled task, a lease that lapsed while it ran).
        with contextlib.suppress(ProviderError):  # e.g. the budget spent in the queue
            booking = await _own_booking(runtime, target, args, start.at, tag)
    if booking is None:
        try:
            alternatives = await _alternatives(runtime, target, start.at, tz)
        except ProviderError:  # e.g. a call that spent its budget queued for the lock
            alternatives = []
        raise results.unavailable(start.at, tz, alternatives)
    content = results.booked_content(
        target.event_type.title, args.attendee_name, booking.start, booking.end, tz, booking.uid
    )
    if start.note:
        content = f"{start.note} {content}"
    hashes = person.hashes(runtime.services.keyring, spec.function_id)
    return Outcome(
        content,
        _booking_data(booking, tz, target),
        booking_id=booking.uid,
        bookings=(index.Change.booked(booking.uid, booking.start, booking.end, hashes),),
    )


async def _book(
    runtime: CalcomRuntime,
    target: _Target,
    start: datetime,
    tz: ZoneInfo,
    args: CalcomBookingArguments,
    phone: str | None,
    tag: str | None,
) -> Booking | None:
    """The booking, or None when Cal.com says the slot was taken since the re-check.
    `phone`: the attendee's, in E.164 when it is a number."""
    try:
        return await runtime.client.create_booking(
            target.api_key,
            start=start,
            attendee_name=args.attendee_name,
            attendee_email=args.attendee_email,
            attendee_time_zone=zone_name(tz),
            attendee_phone=phone or args.attendee_phone,
            event_type_id=target.event_type.id,
            notes=args.notes,
            metadata={CALL_METADATA_KEY: tag} if tag is not None else None,
        )
    except CalcomSlotUnavailable:  # taken outside agentcal since the re-check
        return None
    except (CalcomNotFound, CalcomRequestError):
        _forget_event_types(runtime, target)
        raise


async def _own_booking(
    runtime: CalcomRuntime,
    target: _Target,
    args: CalcomBookingArguments,
    start: datetime,
    tag: str,
) -> Booking | None:
    """The live booking at `start` that this call made (its metadata carries `tag`);
    None if there is none."""
    for booking in await _bookings_at(runtime.client, target.api_key, args.attendee_email, start):
        if _live(booking) and booking.metadata.get(CALL_METADATA_KEY) == tag:
            return booking
    return None


async def _bookings_at(
    calcom: CalcomClient, api_key: str, email: str, start: datetime
) -> list[Booking]:
    """The attendee's bookings that start at `start`, whatever their status."""
    bookings = await calcom.list_bookings(
        api_key,
        attendee_email=email,
        after_start=start - timedelta(minutes=1),
        before_end=start + timedelta(days=1),
    )
    return [b for b in bookings if b.start == start]


# Bookings that hold their time: accepted, and those waiting for the host's confirmation
# (event types that require it); not cancelled or rejected.
_LIVE = frozenset({"accepted", "pending"})


def _live(booking: Booking) -> bool:
    return booking.status in _LIVE


def _source(
    runtime: CalcomRuntime, api_key: str, person: index.Attendee
) -> finding.Source[Booking]:
    """The person's bookings as Cal.com has them: by its search by attendee e-mail (it
    cannot search by phone), and each one the index holds read back by its uid."""
    client = runtime.client

    async def get(uid: str) -> Booking | None:
        try:
            return await client.get_booking(api_key, uid)
        except CalcomNotFound:
            return None

    async def read(uid: str) -> Booking | None:
        booking = await get(uid)
        if booking is not None and not _live(booking) and booking.rescheduled_to_uid:
            # Moved in Cal.com, which makes a new booking of it: follow it once.
            booking = await get(booking.rescheduled_to_uid)
        return booking if booking is not None and _live(booking) else None

    async def search(after: datetime, before_end: datetime | None) -> list[Booking]:
        if person.email is None:
            return []
        bookings = await client.list_bookings(
            api_key,
            attendee_email=person.email,
            after_start=after,
            before_end=before_end,
            soonest_first=True,
        )
        return [b for b in bookings if _live(b)]

    async def within(start: datetime, end: datetime) -> list[Booking]:
        # Cal.com filters on the end: a booking that starts in the window ends within a
        # day of it. A minute's slack for a start Cal.com takes as strictly after.
        return await search(start - timedelta(minutes=1), end + timedelta(days=1))

    return finding.Source(
        found=lambda b: finding.Found(b.uid, b.start, b.end, b.title),
        read=read,
        upcoming=lambda after: search(after, None),
        within=within,
        data=lambda bookings: {"bookingIds": sorted(b.uid for b in bookings)},
    )


async def _by_attendee(
    runtime: CalcomRuntime,
    spec: ToolSpec,
    api_key: str,
    args: CancelBookingArguments | RescheduleBookingArguments,
    tz: ZoneInfo,
) -> str:
    """The uid of the one live booking of the attendee (e-mail or phone) starting at
    `start`: Cal.com's by e-mail, and those agentcal's index holds, read back."""
    assert args.start is not None  # the arguments' model asks for it without a bookingId
    start = parse_start(args.start, tz).at
    person = finding.attendee(spec, args.attendee_email, args.attendee_phone)
    source = _source(runtime, api_key, person)
    window = (start, start + timedelta(minutes=1))
    services = runtime.services
    booking = await finding.one_at(services, KIND, spec, person, source, start, window, tz)
    return booking.uid


async def find_booking(
    runtime: CalcomRuntime, spec: ToolSpec, args: FindBookingArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    person = finding.attendee(spec, args.attendee_email, args.attendee_phone)
    _, api_key = _integration(runtime, spec)
    source = _source(runtime, api_key, person)
    return await finding.find(runtime.services, KIND, spec, person, source, results.now(), tz)


async def cancel_booking(
    runtime: CalcomRuntime, spec: ToolSpec, args: CancelBookingArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    _, api_key = _integration(runtime, spec)
    booking_id = args.booking_id
    if booking_id is None:
        booking_id = await _by_attendee(runtime, spec, api_key, args, tz)
    booking = await runtime.client.cancel_booking(api_key, booking_id, args.reason)
    content = say(
        "Cancelled the booking of {span}.", span=speakable_span(booking.start, booking.end, tz)
    )
    return Outcome(
        content,
        _booking_data(booking, tz, None),
        booking_id=booking.uid,
        bookings=(index.Change.cancelled(booking.uid),),
    )


async def reschedule_booking(
    runtime: CalcomRuntime, spec: ToolSpec, args: RescheduleBookingArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    new_start = parse_start(args.new_start, tz)
    check_start(new_start.at, now=results.now(), tz=tz, min_notice_minutes=0)
    row, api_key = _integration(runtime, spec)
    booking_id = args.booking_id
    if booking_id is None:
        booking_id = await _by_attendee(runtime, spec, api_key, args, tz)
    services = runtime.services
    lock = f"calcom:{row.calcom_username}"
    async with calendar_lock(services.engine, services.calendar_locks, lock):
        try:
            booking = await runtime.client.reschedule_booking(
                api_key, booking_id, new_start.at, args.reason
            )
        except CalcomSlotUnavailable:
            raise results.unavailable(new_start.at, tz, []) from None
    content = say(
        "Moved the booking to {span}. New booking id: {booking_id}.",
        span=speakable_span(booking.start, booking.end, tz),
        booking_id=booking.uid,
    )
    # Cal.com makes a new booking of the moved one; its attendee lets the index take it
    # in, should it not hold the old one (a booking made elsewhere).
    guest = booking.attendees[0] if booking.attendees else None
    person = index.Attendee.of(
        guest.email if guest else None, guest.phone_number if guest else None, spec.timezone
    )
    moved = index.Change.moved(
        booking_id,
        booking.start,
        booking.end,
        new_id=booking.uid,
        attendee=person.hashes(services.keyring, spec.function_id),
    )
    return Outcome(
        content, _booking_data(booking, tz, None), booking_id=booking.uid, bookings=(moved,)
    )
