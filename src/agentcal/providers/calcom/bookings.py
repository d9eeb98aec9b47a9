"""Cal.com actions: availability from `/v2/slots`, bookings re-checked under a lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.db.locks import calendar_lock
from agentcal.errors import NotFound
from agentcal.providers import results as common
from agentcal.providers.calcom.client import Booking, CalcomClient, EventType
from agentcal.providers.calcom.errors import (
    CalcomError,
    CalcomNotFound,
    CalcomRequestError,
    CalcomSlotUnavailable,
)
from agentcal.providers.calcom.models import API_KEY, CalcomIntegration
from agentcal.runtime.catalog import Action, FunctionKind, ToolSpec
from agentcal.runtime.executor import CallContext, Outcome, Runtime, ToolFailure, handles
from agentcal.scheduling.times import (
    check_range,
    check_start,
    day_start,
    iso_local,
    parse_range,
    parse_start,
    speakable,
    speakable_span,
    zone_name,
)


@dataclass(frozen=True, slots=True)
class _Target:
    """The integration, its key and the event type a call is about."""

    integration: CalcomIntegration
    api_key: str
    event_type: EventType


async def _integration(runtime: Runtime, spec: ToolSpec) -> tuple[CalcomIntegration, str]:
    row = spec.row if isinstance(spec.row, CalcomIntegration) else None
    if row is None:  # a spec built without its row
        async with runtime.sessionmaker() as session:
            row = await session.get(CalcomIntegration, spec.function_id)
    if row is None:
        raise NotFound("Cal.com integration", spec.function_id)
    api_key = API_KEY.open(runtime.keyring, row)
    assert api_key is not None  # NOT NULL column
    return row, api_key


def _types_key(api_key: str, username: str) -> tuple[str, str]:
    return hashlib.sha256(api_key.encode()).hexdigest(), username


async def _event_types(runtime: Runtime, api_key: str, username: str) -> list[EventType]:
    """The user's event types, fetched at most once a minute (`event_types_memo`)."""
    key, memo = _types_key(api_key, username), runtime.event_types
    types = memo.get(key)
    if types is not None:
        return types
    async with runtime.event_type_fetches.hold(key):
        types = memo.get(key)  # fetched while this call waited
        if types is None:
            generation = memo.generation
            types = await runtime.calcom.event_types(api_key, username)
            memo.put(key, types, generation)
    return types


async def _target(runtime: Runtime, spec: ToolSpec, arguments: dict[str, Any]) -> _Target:
    """The event type (SPEC §5.1): the argument, else the default, else the only one."""
    row, api_key = await _integration(runtime, spec)
    wanted = common.text(arguments, "eventTypeSlug")
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
        slugs = ", ".join(t.slug for t in types) or "none"
        reason = f"there is no event type {wanted!r}" if wanted else "several event types exist"
        raise ToolFailure(
            "event_type_required",
            f"Say which event type to use ({reason}); pass eventTypeSlug, one of: {slugs}.",
            data={"eventTypes": [{"slug": t.slug, "lengthInMinutes": t.length_in_minutes}
                                 for t in types]},
        )  # fmt: skip
    return _Target(row, api_key, match[0])


async def _free(
    calcom: CalcomClient, target: _Target, start: datetime, end: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    slots = await calcom.slots(
        target.api_key, start=start, end=end, time_zone=zone_name(tz),
        event_type_id=target.event_type.id,
    )  # fmt: skip
    length = timedelta(minutes=target.event_type.length_in_minutes)
    return [(s.start, s.end or s.start + length) for s in slots]


@handles(FunctionKind.CALCOM, Action.CHECK_AVAILABILITY)
async def check_availability(
    runtime: Runtime, spec: ToolSpec, arguments: dict[str, Any], context: CallContext
) -> Outcome:
    tz = common.zone(spec, arguments)
    window = parse_range(
        common.required(arguments, "startDate"), common.text(arguments, "endDate"), tz
    )
    now = common.now()
    check_range(window, now=now, tz=tz)
    target = await _target(runtime, spec, arguments)
    slots = await _free(runtime.calcom, target, max(window.start, now), window.end, tz)
    minutes = target.event_type.length_in_minutes
    content = common.slots_content(spec.title, slots, tz, window.start, window.end, minutes)
    if window.notes:
        content = " ".join(window.notes) + " " + content
    return Outcome(
        content,
        {
            "timeZone": zone_name(tz),
            "eventType": {"id": target.event_type.id, "slug": target.event_type.slug,
                          "lengthInMinutes": minutes},
            "range": {"start": iso_local(window.start, tz), "end": iso_local(window.end, tz)},
            "slots": [common.slot_data(s, e, tz) for s, e in slots],
        },
    )  # fmt: skip


async def _alternatives(
    calcom: CalcomClient, target: _Target, start: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Free slots around `start` (its local day and the two after), nearest first."""
    now = common.now()
    day = day_start(start.astimezone(tz).date(), tz)
    slots = await _free(calcom, target, max(day, now), day + timedelta(days=3), tz)
    return common.nearest(slots, start)


def _booking_data(booking: Booking, tz: ZoneInfo, target: _Target | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bookingId": booking.uid,
        "status": booking.status,
        "timeZone": zone_name(tz),
        **common.slot_data(booking.start, booking.end, tz),
    }
    if target is not None:
        data["eventType"] = {"id": target.event_type.id, "slug": target.event_type.slug}
    if booking.attendees:
        data["attendee"] = {"name": booking.attendees[0].name, "email": booking.attendees[0].email}
    if booking.location:
        data["location"] = booking.location
    return data


@handles(FunctionKind.CALCOM, Action.CREATE_BOOKING)
async def create_booking(
    runtime: Runtime, spec: ToolSpec, arguments: dict[str, Any], context: CallContext
) -> Outcome:
    tz = common.zone(spec, arguments)
    start = parse_start(common.required(arguments, "start"), tz)
    name = common.required(arguments, "attendeeName")
    email = common.required(arguments, "attendeeEmail")
    check_start(start.at, now=common.now(), tz=tz, min_notice_minutes=0)
    target = await _target(runtime, spec, arguments)
    length = timedelta(minutes=target.event_type.length_in_minutes)
    # One booking per slot: re-check and book under the calendar's lock (SPEC §4.5).
    lock = f"calcom:{target.integration.calcom_username}"
    # Alternatives for a taken slot are looked up after the lock is released: callers
    # queued behind a winner must not each hold the calendar for two more requests.
    booking = None
    async with calendar_lock(runtime.engine, runtime.calendar_locks, lock):
        free = await _free(runtime.calcom, target, start.at, start.at + length, tz)
        if any(s == start.at for s, _ in free):
            booking = await _book(runtime, target, start.at, tz, name, email, arguments)
    if booking is None:
        try:
            alternatives = await _alternatives(runtime.calcom, target, start.at, tz)
        except CalcomError:  # e.g. a call that spent its budget queued for the lock
            alternatives = []
        raise common.unavailable(start.at, tz, alternatives)
    content = common.booked_content(
        target.event_type.title, name, booking.start, booking.end, tz, booking.uid
    )
    if start.note:
        content = f"{start.note} {content}"
    return Outcome(content, _booking_data(booking, tz, target), booking_id=booking.uid)


async def _book(
    runtime: Runtime, target: _Target, start: datetime, tz: ZoneInfo, name: str, email: str,
    arguments: dict[str, Any],
) -> Booking | None:  # fmt: skip
    """The booking, or None when Cal.com says the slot was taken since the re-check."""
    try:
        return await runtime.calcom.create_booking(
            target.api_key,
            start=start,
            attendee_name=name,
            attendee_email=email,
            attendee_time_zone=zone_name(tz),
            attendee_phone=common.text(arguments, "attendeePhone"),
            event_type_id=target.event_type.id,
            notes=common.text(arguments, "notes"),
        )
    except CalcomSlotUnavailable:  # taken outside agentcal since the re-check
        return None
    except (CalcomNotFound, CalcomRequestError):
        # Perhaps the event type was changed or deleted in Cal.com since it was cached:
        # the next call fetches the list again.
        username = target.integration.calcom_username
        runtime.event_types.discard(_types_key(target.api_key, username))
        raise


async def _find_booking(
    calcom: CalcomClient, api_key: str, arguments: dict[str, Any], tz: ZoneInfo
) -> str:
    """The uid of the active booking of `attendeeEmail` starting at `start` (SPEC §4.1)."""
    email, start_text = common.text(arguments, "attendeeEmail"), common.text(arguments, "start")
    if email is None or start_text is None:
        raise ToolFailure(
            "invalid_arguments",
            "Give the bookingId that create_booking returned, or attendeeEmail and start.",
        )
    start = parse_start(start_text, tz)
    bookings = await calcom.list_bookings(
        api_key, attendee_email=email, after_start=start.at - timedelta(minutes=1),
        before_end=start.at + timedelta(days=1),
    )  # fmt: skip
    matches = [b for b in bookings if b.start == start.at and b.status == "accepted"]
    if not matches:
        raise ToolFailure(
            "booking_not_found",
            f"There is no active booking for {email} at {speakable(start.at, tz)} on this "
            "calendar; check the time, or use the bookingId.",
        )
    if len(matches) > 1:
        raise ToolFailure(
            "ambiguous_booking",
            f"{email} has {len(matches)} bookings at that time; cancel one by its bookingId.",
            data={"bookingIds": [b.uid for b in matches]},
        )
    return matches[0].uid


@handles(FunctionKind.CALCOM, Action.CANCEL_BOOKING)
async def cancel_booking(
    runtime: Runtime, spec: ToolSpec, arguments: dict[str, Any], context: CallContext
) -> Outcome:
    tz = common.zone(spec, arguments)
    _, api_key = await _integration(runtime, spec)
    booking_id = common.text(arguments, "bookingId")
    if booking_id is None:
        booking_id = await _find_booking(runtime.calcom, api_key, arguments, tz)
    booking = await runtime.calcom.cancel_booking(
        api_key, booking_id, common.text(arguments, "reason")
    )
    content = f"Cancelled the booking of {speakable_span(booking.start, booking.end, tz)}."
    return Outcome(content, _booking_data(booking, tz, None), booking_id=booking.uid)


@handles(FunctionKind.CALCOM, Action.RESCHEDULE_BOOKING)
async def reschedule_booking(
    runtime: Runtime, spec: ToolSpec, arguments: dict[str, Any], context: CallContext
) -> Outcome:
    tz = common.zone(spec, arguments)
    booking_id = common.required(arguments, "bookingId")
    new_start = parse_start(common.required(arguments, "newStart"), tz)
    check_start(new_start.at, now=common.now(), tz=tz, min_notice_minutes=0)
    row, api_key = await _integration(runtime, spec)
    async with calendar_lock(
        runtime.engine, runtime.calendar_locks, f"calcom:{row.calcom_username}"
    ):
        try:
            booking = await runtime.calcom.reschedule_booking(
                api_key, booking_id, new_start.at, common.text(arguments, "reason")
            )
        except CalcomSlotUnavailable:
            raise common.unavailable(new_start.at, tz, []) from None
    content = (
        f"Moved the booking to {speakable_span(booking.start, booking.end, tz)}. "
        f"New booking id: {booking.uid}."
    )
    return Outcome(content, _booking_data(booking, tz, None), booking_id=booking.uid)
