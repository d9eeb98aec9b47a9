"""Google Calendar bookings: availability computed by agentcal, bookings re-checked under a lock.

Google has no slot endpoint, so every action that needs free times asks
`freeBusy` for the busy intervals and runs the slot engine (`scheduling.slots`) with the
function's rules: working hours, `slotMinutes`, minimum notice, buffer and horizon. One
freeBusy request asks for the function's calendar and the other calendars of the account
it lists (`busyCalendarIds`), whose busy times block slots too; a calendar Google answers
with an error is never taken as free. For availability questions the busy intervals
of the week from the day asked are kept briefly (`providers.availability`), and the slot
engine applies the rules to them on every question; bookings and moves always ask anew.

Google itself happily stores overlapping events, so the only thing that keeps two
concurrent bookings of one slot apart is agentcal: `create_booking` and
`reschedule_booking` hold the calendar's lock (`google:<calendar>`, in the process and,
on PostgreSQL, across replicas) around "ask freeBusy, check the exact slot, write the
event". One freeBusy answer serves both the check and the nearest alternatives offered
when the slot is taken (its local day and the two after, as for Cal.com).

Every Google request of a call goes out with the function's `credentials.FunctionAuth`,
which refreshes its token when due and once more after a 401; credentials that only the
integrator can renew end the call with `calendar_auth_expired`. Every action fetches
the token (`calendar.auth.token()`) after checking its arguments and before its first
request: a refresh then runs outside any request's time-out, and outside the calendar
lock, which on PostgreSQL holds a pooled connection while a refresh needs another one.

A booking made by a tool call with an id gets an event id derived from the call's
idempotency key (`event_id_for`), so it is made at most once even across a crash: a
call taken over from a process that died mid-call (`CallContext.resumed`) first looks
for the event under that id and answers from it if it is there.

A caller's bookings are found (`find_booking`, and cancel or move by attendee and start)
in agentcal's bookings index and by Google's free-text search (`events.list` with `q`):
the e-mail matches attendees of events made anywhere, the E.164 phone the description
that `create_booking` writes it into.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.bookings import index
from agentcal.db.locks import calendar_lock
from agentcal.notifications.events import BookingFacts, EventType, Notification
from agentcal.providers import finding, results
from agentcal.providers.availability import Answer, AvailabilityCache
from agentcal.providers.base import (
    BookingCancelled,
    BookingNotFound,
    CalendarNotFound,
    CallContext,
    InvalidArguments,
    Outcome,
    Services,
    SlotUnavailable,
    ToolSpec,
)
from agentcal.providers.google_calendar.client import (
    Attendee,
    Event,
    EventAttendee,
    EventDateTime,
    FreeBusy,
    FreeBusyCalendar,
    GoogleCalendarClient,
    NewEvent,
    event_id_for,
    reschedule_changes,
)
from agentcal.providers.google_calendar.credentials import FunctionAuth
from agentcal.providers.google_calendar.errors import (
    GoogleError,
    GoogleNotFound,
    GoogleUnavailable,
)
from agentcal.providers.google_calendar.models import Function, GoogleCalendarPlugin
from agentcal.providers.google_calendar.tools import (
    KIND,
    GoogleAvailabilityArguments,
    GoogleBookingArguments,
    GoogleCancelArguments,
    GoogleFindArguments,
    GoogleRescheduleArguments,
)
from agentcal.scheduling.errors import InvalidTimezone
from agentcal.scheduling.phrases import iso_local, speakable, speakable_span, zone_name
from agentcal.scheduling.slots import (
    AvailabilityRules,
    Interval,
    find_slot,
    free_slots,
    freebusy_range,
)
from agentcal.scheduling.speech import babel_locale, current, say
from agentcal.scheduling.times import (
    check_range,
    check_start,
    day_start,
    load_zone,
    parse_range,
    parse_start,
)
from agentcal.settings import Settings

ALTERNATIVE_DAYS = 3  # alternatives come from the target's local day and the two after
# freeBusy `errors[].reason` that mean the calendar is not there for this account.
_MISSING_CALENDAR = frozenset({"notFound", "notACalendarUser"})
# A question about one day asks freeBusy about the week from that day (within the
# horizon): the next days' questions are then answered from the availability cache.
PREFETCH = timedelta(days=7)


@dataclass(slots=True)
class GoogleRuntime:
    """What Google calls need for the app's life: the client (and its token refreshes)."""

    services: Services
    client: GoogleCalendarClient
    # freeBusy answers by (function, calendars asked), for availability questions only:
    # the slot engine applies the function's rules to them on every question.
    availability: AvailabilityCache[_Busy] = field(default_factory=lambda: AvailabilityCache(0))

    async def aclose(self) -> None:
        await self.client.aclose()


def start(settings: Settings, services: Services) -> GoogleRuntime:
    client = GoogleCalendarClient(
        settings.google_api_url,
        settings.google_token_url,
        settings.google_client_id,
        settings.google_client_secret,
    )
    availability: AvailabilityCache[_Busy] = AvailabilityCache(
        settings.availability_fresh_seconds, settings.availability_deadline
    )
    return GoogleRuntime(services, client, availability)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """The function's Google Calendar settings, its rules for the slot engine, and the
    auth its requests go out with."""

    plugin: GoogleCalendarPlugin
    rules: AvailabilityRules
    auth: FunctionAuth
    client: GoogleCalendarClient

    @property
    def id(self) -> str:
        return self.plugin.calendar_id

    @property
    def lock_name(self) -> str:
        """`google:<calendar>`. `primary` is the account's own calendar, whose id is the
        account's e-mail: both names must take one lock."""
        calendar = self.plugin.calendar_id
        if calendar == "primary":
            calendar = str(self.plugin.google_user.get("email") or self.plugin.google_id)
        return f"google:{calendar.casefold()}"

    async def get_event(self, event_id: str) -> Event:
        return await self.client.get_event(self.auth, self.id, event_id)

    async def list_events(self, start: datetime, end: datetime) -> list[Event]:
        return await self.client.list_events(self.auth, self.id, start, end)


def _calendar(runtime: GoogleRuntime, spec: ToolSpec) -> _Calendar:
    """The function's calendar. Await `calendar.auth.token()` before its first request:
    see the module's docstring."""
    row = spec.row
    assert isinstance(row, Function)  # the catalog keeps every tool's row
    plugin = row.google_calendar
    assert plugin is not None  # a function without its plugin offers no tools
    rules = AvailabilityRules.from_settings(
        timezone=plugin.timezone,
        working_hours=plugin.working_hours,
        slot_minutes=plugin.slot_minutes,
        min_notice_minutes=plugin.min_notice_minutes,
        buffer_minutes=plugin.buffer_minutes,
        horizon_days=plugin.horizon_days,
    )
    services = runtime.services
    auth = FunctionAuth(services.sessionmaker, services.keyring, runtime.client, plugin)
    return _Calendar(plugin, rules, auth, runtime.client)


def _notifications(calendar: _Calendar, kind: EventType, event: Event) -> tuple[Notification, ...]:
    """The function's notification of a booking change, if it asks for one: the
    runtime puts it in the outbox with the call's record, and each result states it."""
    plugin = calendar.plugin
    if plugin.notification_type is None:
        return ()
    start, end = _span(event, calendar)
    guest = _guest(event)
    facts = BookingFacts(
        booking_id=event.id,
        start=start,
        end=end,
        time_zone=plugin.timezone,
        attendee_name=guest.display_name if guest else None,
        attendee_email=guest.email if guest else None,
        title=event.summary,
        meet_link=event.meet_link,
    )
    return (
        Notification(
            event=kind,
            type=plugin.notification_type,
            content_type=plugin.notification_content_type or "text",
            delay_ms=plugin.notification_delay_ms,
            wait_for_speech_ms=plugin.notification_wait_for_speech,
            booking=facts,
            template=plugin.notification_content,
            # `{{start}}` and `{{end}}` are written in the bot's language.
            locale=babel_locale(current().language),
        ),
    )


# --------------------------------------------------------------------- busy and free


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Busy:
    """Busy intervals from one freeBusy answer: the function's own calendar's, and those
    of the other calendars it lists (`busyCalendarIds`), which also block slots."""

    own: list[Interval]
    others: list[Interval]


def _entry(answer: FreeBusy, calendar_id: str, alone: bool) -> FreeBusyCalendar:
    """The answer's entry for `calendar_id`; Google may write the id in other case."""
    entry = answer.calendars.get(calendar_id)
    if entry is None:
        folded = calendar_id.casefold()
        entry = next((e for k, e in answer.calendars.items() if k.casefold() == folded), None)
    if entry is None and alone and len(answer.calendars) == 1:  # Google may normalise the id
        entry = next(iter(answer.calendars.values()))
    if entry is None:
        raise GoogleError(
            say(
                "Google Calendar answered freeBusy without the calendar {calendar}",
                calendar=calendar_id,
            )
        )
    return entry


def _intervals(calendar: _Calendar, calendar_id: str, entry: FreeBusyCalendar) -> list[Interval]:
    """An entry's busy intervals, or the error it holds: an entry with errors has no
    busy times, and must not pass for a calendar that is free."""
    if entry.errors:
        reasons = ", ".join(sorted({e.reason for e in entry.errors}))
        if _MISSING_CALENDAR & {e.reason for e in entry.errors}:
            if calendar_id == calendar.id:
                message = say(
                    "Google Calendar cannot find the calendar {calendar} for this account "
                    "({reasons}); the calendarId of the function must be fixed.",
                    calendar=calendar_id,
                    reasons=reasons,
                )
            else:
                message = say(
                    "Google Calendar cannot find the calendar {calendar} for this account "
                    "({reasons}); it is listed in the busyCalendarIds of the function, "
                    "which must be fixed.",
                    calendar=calendar_id,
                    reasons=reasons,
                )
            raise CalendarNotFound(message)
        raise GoogleUnavailable(
            say(
                "Google Calendar could not read the busy times of the calendar {calendar} "
                "({reasons}); try again.",
                calendar=calendar_id,
                reasons=reasons,
            )
        )
    intervals = []
    for period in entry.busy:
        start, end = _aware(period.start), _aware(period.end)
        if end > start:
            intervals.append(Interval(start, end))
    return intervals


async def _busy(calendar: _Calendar, time_min: datetime, time_max: datetime) -> _Busy:
    """Busy intervals between the two times of the function's calendar and of the
    other calendars it lists, from one `POST /freeBusy` asking for all of them."""
    others = list(calendar.plugin.busy_calendar_ids)
    ids = [calendar.id, *others]
    answer = await calendar.client.free_busy(calendar.auth, ids, time_min, time_max)
    own = _intervals(calendar, calendar.id, _entry(answer, calendar.id, alone=not others))
    blocked = [
        interval
        for other in others
        for interval in _intervals(calendar, other, _entry(answer, other, alone=False))
    ]
    return _Busy(own, blocked)


@dataclass(frozen=True, slots=True)
class _Search:
    """Free slots of a range, and the instant they were computed for."""

    slots: list[Interval]
    now: datetime
    # The freeBusy answer the slots come from, when a cached one may serve.
    answer: Answer[_Busy] | None = None


async def _search(
    calendar: _Calendar,
    start: datetime,
    end: datetime,
    minutes: int,
    *,
    moving: Event | None = None,
    cache: tuple[AvailabilityCache[_Busy], uuid.UUID] | None = None,
) -> _Search:
    """Free slots of `minutes` in `[start, end)`: freeBusy, then the slot engine.

    `moving` is an event being rescheduled: its own time is not in the way of its new
    time, so it is taken out of the busy intervals (and other events during it are
    put back, as freeBusy merges overlapping events into one interval).

    With `cache` (the availability cache and the function's id), a kept freeBusy
    answer may serve, and a new one covers the week from `start` (`PREFETCH`).
    """
    now = results.now()
    span = freebusy_range(calendar.rules, start=start, end=end, now=now)
    if span is None:  # all of it is past, inside the notice, or beyond the horizon
        return _Search([], now)
    answer = None
    if cache is None:
        found = await _busy(calendar, *span)
    else:
        availability, function_id = cache
        # freebusy_range clips the week to the notice and the horizon.
        wide = freebusy_range(calendar.rules, start=start, end=max(end, start + PREFETCH), now=now)
        assert wide is not None  # it contains `span`
        ids = (calendar.id, *calendar.plugin.busy_calendar_ids)
        answer = await availability.answer(
            (KIND, function_id),
            tuple(i.casefold() for i in ids),
            *span,
            lambda begin, finish: _busy(calendar, begin, finish),
            wide=wide,
        )
        found = answer.value
    busy = found.own
    if moving is not None:
        # Only the calendar the event is on is freed during it: other calendars' busy
        # times then stay in the way.
        busy = await _without(calendar, busy, moving)
    busy = busy + found.others
    slots = free_slots(
        calendar.rules, busy, start=start, end=end, now=now, duration_minutes=minutes
    )
    return _Search(slots, now, answer)


def _subtract(busy: Sequence[Interval], hole: Interval) -> list[Interval]:
    """`busy` with the stretch `hole` cut out of every interval."""
    cut, hole_start, hole_end = [], hole.start.astimezone(UTC), hole.end.astimezone(UTC)
    for interval in busy:
        start, end = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
        if end <= hole_start or start >= hole_end:
            cut.append(interval)
            continue
        if start < hole_start:
            cut.append(Interval(start, hole_start))
        if end > hole_end:
            cut.append(Interval(hole_end, end))
    return cut


async def _without(calendar: _Calendar, busy: list[Interval], event: Event) -> list[Interval]:
    own = Interval(*_span(event, calendar))
    rest = _subtract(busy, own)
    # Other timed events during the moving one stay busy there (outside it, freeBusy
    # already says so). Listing cannot tell a transparent ("free") event from a busy
    # one, so each counts as busy: the safe side.
    for other in await calendar.list_events(own.start, own.end):
        if other.id == event.id or other.status == "cancelled" or not _timed(other):
            continue
        start, end = _span(other, calendar)
        start, end = max(start, own.start), min(end, own.end)
        if start < end:
            rest.append(Interval(start, end))
    return rest


def _window_around(target: datetime, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """Where the re-check looks: the target's local day and the two after (from now on)."""
    day = day_start(target.astimezone(tz).date(), tz)
    return max(day, now), day + timedelta(days=ALTERNATIVE_DAYS)


def _pairs(slots: Sequence[Interval]) -> list[tuple[datetime, datetime]]:
    return [(s.start, s.end) for s in slots]


def _unavailable(
    target: datetime, calendar: _Calendar, search: _Search, tz: ZoneInfo, minutes: int
) -> SlotUnavailable:
    """`slot_unavailable` with the 5 nearest free slots. A start that is no bookable time
    at all (outside the working hours, or off the slot grid) is told apart from one that
    is taken, so the model does not offer it again."""
    alternatives = results.nearest(_pairs(search.slots), target)
    failure = results.unavailable(target, tz, alternatives)
    end = target + timedelta(minutes=minutes)
    bookable = free_slots(
        calendar.rules, [], start=target, end=end, now=search.now, duration_minutes=minutes
    )
    if find_slot(bookable, target) is None:
        why = say(
            "{time} is not a time that can be booked: a {minutes}-minute meeting must lie "
            "within the working hours and start on the {grid}-minute grid of the free times "
            "check_availability lists.",
            time=speakable(target, tz),
            minutes=minutes,
            grid=calendar.rules.slot_minutes,
        )
        if alternatives:
            options = results.nearest_said(alternatives, target, tz)
            why += " " + say("The nearest free times are {options}.", options=options)
        failure = SlotUnavailable(why, data=failure.data)
    return failure


# --------------------------------------------------------------------------- events


def _timed(event: Event) -> bool:
    return event.start.date_time is not None and event.end.date_time is not None


def _moment(when: EventDateTime, calendar: _Calendar) -> datetime:
    if when.date_time is not None:
        return _aware(when.date_time).astimezone(UTC)
    if when.day is not None:  # an all-day event: from the start of that day in the calendar
        return day_start(when.day, calendar.rules.tz)
    raise GoogleError(say("Google Calendar answered an event without a start or end"))


def _span(event: Event, calendar: _Calendar) -> tuple[datetime, datetime]:
    return _moment(event.start, calendar), _moment(event.end, calendar)


def _event_zone(event: Event, calendar: _Calendar) -> str:
    """The zone the event is written in on the calendar (kept when it is moved)."""
    name = event.start.time_zone
    if name:
        try:
            return zone_name(load_zone(name))
        except InvalidTimezone:  # a name outside the tz database: use the calendar's
            pass
    return calendar.plugin.timezone


def _event_data(event: Event, calendar: _Calendar, tz: ZoneInfo) -> dict[str, Any]:
    start, end = _span(event, calendar)
    data: dict[str, Any] = {
        "bookingId": event.id,
        "status": event.status,
        "timeZone": zone_name(tz),
        **results.slot_data(start, end, tz),
        "durationMinutes": int((end - start).total_seconds() // 60),
        "title": event.summary,
        "calendarId": calendar.id,
        "attendees": [
            {"name": a.display_name, "email": a.email}
            for a in event.attendees
            if a.email and not a.organizer and not a.self_
        ],
    }
    if event.meet_link:
        data["meetLink"] = event.meet_link
    if event.html_link:
        data["htmlLink"] = event.html_link
    return data


async def _own_event(
    calendar: _Calendar, event_id: str, start: datetime, end: datetime
) -> Event | None:
    """The event this call made (named `event_id`), if it is live at `start`–`end`."""
    try:
        made = await calendar.get_event(event_id)
    except GoogleNotFound:
        return None
    return made if _is_at(made, calendar, start, end) else None


def _is_at(event: Event, calendar: _Calendar, start: datetime, end: datetime) -> bool:
    """`event` is live and takes exactly `[start, end)`."""
    return event.status != "cancelled" and _timed(event) and _span(event, calendar) == (start, end)


async def _get_event(calendar: _Calendar, booking_id: str) -> Event:
    try:
        return await calendar.get_event(booking_id)
    except GoogleNotFound:
        raise BookingNotFound(
            say(
                "There is no booking {booking_id} on this calendar. Use the bookingId that "
                "create_booking returned, or give attendeeEmail and start to find it.",
                booking_id=repr(booking_id),
            ),
            data={"bookingId": booking_id},
        ) from None


# -------------------------------------------------------------------------- actions


def _check_bookable(start: datetime, calendar: _Calendar, tz: ZoneInfo) -> datetime:
    """Refuse a start in the past, inside the minimum notice or beyond the horizon;
    answer the instant the check was made for."""
    now, rules = results.now(), calendar.rules
    check_start(
        start,
        now=now,
        tz=tz,
        min_notice_minutes=rules.min_notice_minutes,
        horizon_end=rules.horizon_end(now),
    )
    return now


async def check_availability(
    runtime: GoogleRuntime, spec: ToolSpec, args: GoogleAvailabilityArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    window = parse_range(args.start_date, args.end_date, tz)
    check_range(window, now=results.now(), tz=tz)
    calendar = _calendar(runtime, spec)
    minutes = args.duration_minutes or calendar.rules.slot_minutes
    await calendar.auth.token()
    cache = (runtime.availability, spec.function_id)
    search = await _search(calendar, window.start, window.end, minutes, cache=cache)
    slots = _pairs(search.slots)
    content = results.slots_content(spec.title, slots, tz, window.start, window.end, minutes)
    horizon = calendar.rules.horizon_end(search.now)
    if not slots and window.end > horizon:
        content += " " + say("Bookings are open until {end}.", end=speakable(horizon, tz))
    if window.notes:
        content = " ".join(window.notes) + " " + content
    if search.answer is not None and (stale := search.answer.stale_note()):
        content = f"{stale} {content}"
    return Outcome(
        content,
        {
            "timeZone": zone_name(tz),
            "calendarTimeZone": calendar.plugin.timezone,
            "durationMinutes": minutes,
            "range": {"start": iso_local(window.start, tz), "end": iso_local(window.end, tz)},
            "slots": [results.slot_data(s, e, tz) for s, e in slots],
            **_stamp(search),
        },
    )


def _stamp(search: _Search) -> dict[str, Any]:
    """`asOf` and `fresh` of the freeBusy answer; now, for a range nothing was asked of."""
    if search.answer is not None:
        return search.answer.stamp()
    return Answer(None, search.now, search.now, search.now.replace(microsecond=0)).stamp()


def _description(args: GoogleBookingArguments, phone: str | None) -> str | None:
    """The notes, and the phone: in E.164 when it is a number, so a search finds it."""
    parts = [args.notes] if args.notes else []
    if args.attendee_phone:
        parts.append(f"Phone: {phone or args.attendee_phone}")
    return "\n\n".join(parts) or None


async def create_booking(
    runtime: GoogleRuntime, spec: ToolSpec, args: GoogleBookingArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    start = parse_start(args.start, tz)
    calendar = _calendar(runtime, spec)
    minutes = args.duration_minutes or calendar.rules.slot_minutes
    now = _check_bookable(start.at, calendar, tz)
    end = start.at + timedelta(minutes=minutes)
    person = index.Attendee.of(args.attendee_email, args.attendee_phone, spec.timezone)
    event = NewEvent(
        summary=args.title or f"{spec.title} with {args.attendee_name}",
        start=start.at,
        end=end,
        time_zone=calendar.plugin.timezone,
        description=_description(args, person.phone),
        attendees=[Attendee(email=args.attendee_email, display_name=args.attendee_name)],
    )

    # The call's own event id: a repeat of the call, wherever it runs, names the same
    # event, so Google answers a second insert with 409 `duplicate` (the client then
    # returns the event), and a call taken over from a dead process can look it up.
    event_id = event_id_for(context.key) if context.key is not None else None

    async def insert(with_id: str | None) -> Event:
        return await calendar.client.insert_event(
            calendar.auth,
            calendar.id,
            event,
            send_updates="all",
            conference=calendar.plugin.create_meet_link,
            event_id=with_id,
        )

    await calendar.auth.token()  # before the lock: see the module's docstring
    services = runtime.services
    # One booking per slot: Google accepts overlapping events, so the re-check and the
    # insert must not interleave with another booking of this calendar.
    async with calendar_lock(services.engine, services.calendar_locks, calendar.lock_name):
        created: Event | None = None
        if context.resumed and event_id is not None:
            # The dead process may have booked already: its event would make the
            # re-check below answer slot_unavailable to the call that made it.
            created = await _own_event(calendar, event_id, start.at, end)
        if created is None:
            search = await _search(calendar, *_window_around(start.at, tz, now), minutes)
            if find_slot(search.slots, start.at) is None:
                # Perhaps taken by this very call: a first run whose claim was released
                # or taken over unnoticed (a cancelled task, a race between repeats).
                if event_id is not None and not context.resumed:
                    created = await _own_event(calendar, event_id, start.at, end)
                if created is None:
                    raise _unavailable(start.at, calendar, search, tz, minutes)
        if created is None:
            created = await insert(event_id)
            if event_id is not None and not _is_at(created, calendar, start.at, end):
                # The id names an event of an earlier call with this key (reused after
                # its 24 h), since cancelled or moved: this booking needs an id of its own.
                created = await insert(None)
    if args.title:
        label = say("“{title}”", title=args.title)
    else:
        label = say("a {minutes}-minute meeting", minutes=minutes)
    content = results.booked_content(label, args.attendee_name, start.at, end, tz, created.id)
    if created.meet_link:
        content += " " + say("Google Meet link: {link}", link=created.meet_link)
    if start.note:
        content = f"{start.note} {content}"
    hashes = person.hashes(runtime.services.keyring, spec.function_id)
    return Outcome(
        content,
        _event_data(created, calendar, tz),
        booking_id=created.id,
        notifications=_notifications(calendar, "booking.created", created),
        bookings=(index.Change.booked(created.id, *_span(created, calendar), hashes),),
    )


def _guest(event: Event) -> EventAttendee | None:
    """The person the booking is for: the first attendee who is not the calendar's owner."""
    return next((a for a in event.attendees if a.email and not a.organizer and not a.self_), None)


def _is_theirs(event: Event, person: index.Attendee) -> bool:
    """`person` is among the event's attendees, or their phone in its description."""
    if person.email is not None and any(
        (a.email or "").casefold() == person.email for a in event.attendees
    ):
        return True
    return person.phone is not None and _has_phone(event.description or "", person.phone)


def _has_phone(text: str, phone: str) -> bool:
    """`phone` (E.164) is written in `text` as a whole number: E.164 numbers differ in
    length, so `+4930123456` is not in `+49301234567`, another person's number."""
    return re.search(rf"(?<!\d){re.escape(phone)}(?!\d)", text) is not None


def _live(event: Event) -> bool:
    return event.status != "cancelled" and _timed(event)


async def _searched(calendar: _Calendar, query: str, after: datetime) -> list[Event]:
    """Google's free-text search of the calendar's events from `after` on."""
    return await calendar.client.list_events(
        calendar.auth, calendar.id, after, None, query=query, page_size=50, max_pages=2
    )


def _source(calendar: _Calendar, person: index.Attendee, tz: ZoneInfo) -> finding.Source[Event]:
    """The person's live events: by Google's free-text search for their e-mail and phone
    (or among a day's events), and each one the index holds read back by its id."""

    def theirs(events: Iterable[Event]) -> list[Event]:
        return [e for e in events if _live(e) and _is_theirs(e, person)]

    async def read(event_id: str) -> Event | None:
        try:
            event = await calendar.get_event(event_id)
        except GoogleNotFound:
            return None
        return event if _live(event) else None

    async def upcoming(after: datetime) -> list[Event]:
        queries = [q for q in (person.email, person.phone) if q is not None]
        searched = await asyncio.gather(*(_searched(calendar, q, after) for q in queries))
        return theirs(e for events in searched for e in events)

    async def within(start: datetime, end: datetime) -> list[Event]:
        return theirs(await calendar.list_events(start, end))

    return finding.Source(
        found=lambda e: finding.Found(e.id, *_span(e, calendar), e.summary),
        read=read,
        upcoming=upcoming,
        within=within,
        data=lambda events: {"bookings": [_event_data(e, calendar, tz) for e in events]},
    )


async def find_booking(
    runtime: GoogleRuntime, spec: ToolSpec, args: GoogleFindArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    person = finding.attendee(spec, args.attendee_email, args.attendee_phone)
    calendar = _calendar(runtime, spec)
    await calendar.auth.token()
    source = _source(calendar, person, tz)
    return await finding.find(runtime.services, KIND, spec, person, source, results.now(), tz)


async def cancel_booking(
    runtime: GoogleRuntime, spec: ToolSpec, args: GoogleCancelArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    calendar = _calendar(runtime, spec)
    event = await _named_event(runtime, spec, calendar, args, tz)
    # Google's DELETE has no field for a reason; it is kept in the result (and the audit).
    data = _event_data(event, calendar, tz)
    if args.reason:
        data["reason"] = args.reason
    span = speakable_span(*_span(event, calendar), tz)
    cancelled = (index.Change.cancelled(event.id),)
    if event.status == "cancelled":  # cancelled before (by a repeat, or in Google Calendar)
        content = say("The booking of {span} was already cancelled.", span=span)
        return Outcome(content, data, booking_id=event.id, bookings=cancelled)
    await calendar.client.delete_event(calendar.auth, calendar.id, event.id, send_updates="all")
    data["status"] = "cancelled"
    content = say(
        "Cancelled the booking of {span}. Booking id: {booking_id}.", span=span, booking_id=event.id
    )
    return Outcome(
        content,
        data,
        booking_id=event.id,
        notifications=_notifications(calendar, "booking.cancelled", event),
        bookings=cancelled,
    )


async def _named_event(
    runtime: GoogleRuntime,
    spec: ToolSpec,
    calendar: _Calendar,
    args: GoogleCancelArguments | GoogleRescheduleArguments,
    tz: ZoneInfo,
) -> Event:
    """The event the arguments name: by its id, or by its attendee and start (the
    arguments' model makes sure there is one or the other)."""
    if args.booking_id is not None:
        await calendar.auth.token()
        return await _get_event(calendar, args.booking_id)
    assert args.start is not None
    person = finding.attendee(spec, args.attendee_email, args.attendee_phone)
    start = parse_start(args.start, tz).at
    day = day_start(start.astimezone(tz).date(), tz)
    await calendar.auth.token()
    # The whole local day is searched, so a miss can tell the person's times that day.
    window = (day, day + timedelta(days=1))
    source = _source(calendar, person, tz)
    return await finding.one_at(runtime.services, KIND, spec, person, source, start, window, tz)


def _moved(
    event: Event, calendar: _Calendar, spec: ToolSpec, runtime: GoogleRuntime
) -> index.Change:
    """The index's news of a moved event; its guest is taken in, should the index not
    hold it yet (a booking made elsewhere)."""
    guest = _guest(event)
    person = index.Attendee.of(guest.email if guest else None, None, spec.timezone)
    hashes = person.hashes(runtime.services.keyring, spec.function_id)
    return index.Change.moved(event.id, *_span(event, calendar), attendee=hashes)


async def reschedule_booking(
    runtime: GoogleRuntime, spec: ToolSpec, args: GoogleRescheduleArguments, context: CallContext
) -> Outcome:
    tz = results.zone(spec, args.time_zone)
    new_start = parse_start(args.new_start, tz)
    calendar = _calendar(runtime, spec)
    now = _check_bookable(new_start.at, calendar, tz)
    # Found before the lock: looking up by attendee lists the day's events.
    booking_id = (await _named_event(runtime, spec, calendar, args, tz)).id
    # A repeat of a move (a takeover after a crash too) finds the event already moved:
    # no call-derived id is needed here.
    await calendar.auth.token()  # before the lock: see the module's docstring
    services = runtime.services
    async with calendar_lock(services.engine, services.calendar_locks, calendar.lock_name):
        event = await _get_event(calendar, booking_id)
        if event.status == "cancelled":
            raise BookingCancelled(
                say(
                    "The booking {booking_id} was cancelled; book a new time with create_booking.",
                    booking_id=booking_id,
                ),
                data=_event_data(event, calendar, tz),
            )
        if not _timed(event):
            raise InvalidArguments(
                say(
                    "The booking {booking_id} is an all-day event, which cannot be moved to a "
                    "start time; cancel it and book a new time instead.",
                    booking_id=booking_id,
                )
            )
        old_start, old_end = _span(event, calendar)
        if old_start == new_start.at:
            # Asked to move it where it is, or the repeat of a move that was made (its
            # first run died before storing the result): nothing to change, no e-mails.
            content = say(
                "The booking is already at {span}. Booking id: {booking_id}.",
                span=speakable_span(old_start, old_end, tz),
                booking_id=event.id,
            )
            return Outcome(
                content,
                _event_data(event, calendar, tz),
                booking_id=event.id,
                bookings=(_moved(event, calendar, spec, runtime),),
            )
        length = old_end - old_start
        minutes = int(length.total_seconds() // 60)
        new_end = new_start.at + length
        window = _window_around(new_start.at, tz, now)
        search = await _search(calendar, *window, minutes, moving=event)
        if find_slot(search.slots, new_start.at) is None:
            raise _unavailable(new_start.at, calendar, search, tz, minutes)
        changes = reschedule_changes(new_start.at, new_end, _event_zone(event, calendar))
        moved = await calendar.client.patch_event(
            calendar.auth, calendar.id, event.id, changes, send_updates="all"
        )
    data = _event_data(moved, calendar, tz)
    data["previous"] = results.slot_data(old_start, old_end, tz)
    if args.reason:
        data["reason"] = args.reason
    content = say(
        "Moved the booking from {old} to {new}. Booking id: {booking_id}.",
        old=speakable_span(old_start, old_end, tz),
        new=speakable_span(new_start.at, new_end, tz),
        booking_id=moved.id,
    )
    if new_start.note:
        content = f"{new_start.note} {content}"
    return Outcome(
        content,
        data,
        booking_id=moved.id,
        notifications=_notifications(calendar, "booking.rescheduled", moved),
        bookings=(_moved(moved, calendar, spec, runtime),),
    )
