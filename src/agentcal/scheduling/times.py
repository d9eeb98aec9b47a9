"""Reading the time arguments of tool calls, and writing the times of their results.

Accepted argument forms, read in the zone `tz` the caller is working in
(the `timeZone` argument, else the function's timezone):

* `YYYY-MM-DD` — a whole local day: from the first instant of that day in `tz` to the
  first instant of the next (23, 24 or 25 real hours around DST changes).
* `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` — a local wall-clock time in `tz`.
* RFC 3339 with an offset or `Z`, e.g. `2026-11-23T10:00:00-03:00`,
  `2026-11-23T13:00:00.000Z`. The offset fixes the instant; the result is expressed in
  `tz`. Seconds may be left out (`2026-11-23T10:00-03:00`), as models often do.

`T` may be lower case or a single space, as RFC 3339 allows. Anything else raises
`InvalidDatetime`, whose message names these forms so a model can correct itself.

Instants handed out (`ParsedTime.at`, `TimeRange`) are in UTC, and every comparison or
sum here is made in UTC. That is deliberate: Python compares, subtracts and adds two
datetimes sharing one `ZoneInfo` by their wall-clock readings, so across a DST change
`01:30 EDT + 30 min` would land at 02:00 EST, an hour late. Local values are for
display only (`ParsedTime.local`, `speakable`, `iso_local`).

Local wall-clock times go through `zoneinfo`, never naive arithmetic:

* in a DST gap (the clock jumps, e.g. 02:30 on 2026-03-08 in America/New_York) the time
  does not exist: `InvalidDatetime`, naming the last minute before the gap and the first
  instant after it, which are the nearest times that do exist;
* in a DST fold (the clock goes back, e.g. 01:30 on 2026-11-01 in America/New_York) the
  time happens twice: the FIRST occurrence (`fold=0`) is taken and `ParsedTime.note`
  says so, with the offset to send for the second one.

Times in results are written by `agentcal.scheduling.phrases`, in the bot's language
and for the reader or the listener.

Messages raised from here are said with `speech.say`, so they too are in the bot's
language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from agentcal.kit.validation import timezone_names
from agentcal.scheduling import speech
from agentcal.scheduling.errors import InvalidDatetime, InvalidTimezone
from agentcal.scheduling.phrases import (
    iso_local,
    iso_utc,
    speakable,
    wall_clock,
    wall_time,
    zone_name,
)
from agentcal.scheduling.speech import say, translatable

ACCEPTED_FORMS = translatable(
    "YYYY-MM-DD (a whole day), YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS (local time in the "
    "time zone), or RFC 3339 with an offset or Z (e.g. 2026-11-23T10:00:00-03:00 or "
    "2026-11-23T13:00:00Z)"
)
# Far enough for any booking, near enough that adding a day or a horizon never overflows.
MIN_YEAR, MAX_YEAR = 1900, 2999

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_LOCAL = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


@dataclass(frozen=True, slots=True)
class ParsedTime:
    """A time argument, read.

    `at` is the instant, in UTC, whatever offset the caller wrote; for the date form it
    is the first instant of that local day. `tz` is the zone it was read in. `note` is
    set when the argument needed a choice the caller should hear about (a DST fold).
    """

    at: datetime
    tz: ZoneInfo
    form: Literal["date", "local", "rfc3339"]
    note: str | None = None

    @property
    def is_date(self) -> bool:
        return self.form == "date"

    @property
    def local(self) -> datetime:
        """`at` in the caller's zone: for display and for the local date, not arithmetic."""
        return self.at.astimezone(self.tz)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A `[start, end)` range of instants (UTC) read from `startDate`/`endDate`."""

    start: datetime
    end: datetime
    notes: tuple[str, ...] = ()


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or `InvalidTimezone` telling the caller what a name looks like.

    Only names in the tz database are accepted, as the management API does, so a file
    path never reaches `ZoneInfo`.
    """
    key = name.strip()
    if key not in timezone_names():
        raise InvalidTimezone(
            say(
                "{name} is not an IANA time zone name; use one such as 'America/Sao_Paulo', "
                "'Europe/Lisbon' or 'UTC'",
                name=repr(name),
            ),
            data={"timeZone": name},
        )
    return ZoneInfo(key)


# --- Reading -------------------------------------------------------------------------------


def _invalid(text: str, tz: tzinfo, why: str = "") -> InvalidDatetime:
    reason = f" ({why})" if why else ""
    return InvalidDatetime(
        say(
            "{value} is not a date or time I can read{reason}. Use {forms}; times without an "
            "offset are read in {zone}.",
            value=repr(text),
            reason=reason,
            forms=say(ACCEPTED_FORMS),
            zone=zone_name(tz),
        ),
        data={"value": text, "timeZone": zone_name(tz)},
    )


_Fields = tuple[int, int, int, int, int, int]


def _fields(text: str, tz: tzinfo, groups: tuple[str | None, ...]) -> _Fields:
    """The numbers of a matched argument, checked as a calendar date and clock time."""
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in groups[:6])
    if not MIN_YEAR <= year <= MAX_YEAR:
        why = say("the year must be between {low} and {high}", low=MIN_YEAR, high=MAX_YEAR)
        raise _invalid(text, tz, why)
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise _invalid(text, tz, str(exc)) from None
    return year, month, day, hour, minute, second


def parse_time(text: str, tz: ZoneInfo) -> ParsedTime:
    """Read one time argument in any accepted form (see the module's docstring).

    Raises `InvalidDatetime` for an unreadable value or a local time in a DST gap.
    """
    value = text.strip()
    if match := _DATE.fullmatch(value):
        year, month, day, *_ = _fields(text, tz, (*match.groups(), None, None, None))
        return ParsedTime(day_start(date(year, month, day), tz), tz, "date")
    if match := _LOCAL.fullmatch(value):
        naive = datetime(*_fields(text, tz, match.groups()))
        at, note = resolve_local(naive, tz)
        return ParsedTime(at, tz, "local", note)
    if match := _RFC3339.fullmatch(value):
        fields = _fields(text, tz, match.groups()[:6])
        micro = int((match.group(7) or "0").ljust(9, "0")[:6])
        if match.group(8):
            offset = timedelta(0)
        else:
            hours, minutes = int(match.group(10)), int(match.group(11))
            if hours > 23 or minutes > 59:
                why = say("the offset must be between -23:59 and +23:59")
                raise _invalid(text, tz, why)
            offset = timedelta(hours=hours, minutes=minutes)
            offset = -offset if match.group(9) == "-" else offset
        instant = datetime(*fields, micro, tzinfo=timezone(offset))
        return ParsedTime(instant.astimezone(UTC), tz, "rfc3339")
    raise _invalid(text, tz)


def parse_start(text: str, tz: ZoneInfo) -> ParsedTime:
    """Read a start time (`create_booking.start`, `newStart`): a date alone is refused."""
    parsed = parse_time(text, tz)
    if parsed.is_date:
        raise InvalidDatetime(
            say(
                "{value} is a whole day, but a start needs a time of day too, e.g. "
                "{example} (local time in {zone}) or an RFC 3339 time with an offset.",
                value=repr(text),
                example=f"{text.strip()}T10:00",
                zone=zone_name(tz),
            ),
            data={"value": text, "timeZone": zone_name(tz)},
        )
    return parsed


def parse_range(
    start_text: str, end_text: str | None, tz: ZoneInfo, *, max_days: int = 31
) -> TimeRange:
    """Read `startDate`/`endDate` of `check_availability` as `[start, end)`.

    A date as `endDate` includes that whole day. Without `endDate` the range is one day
    long: to the end of `startDate` when it is a date, else to the same local time on
    the next day. The range may span at most `max_days` local days.
    """
    first = parse_time(start_text, tz)
    notes = [first.note] if first.note else []
    naive_start = first.local.replace(tzinfo=None)
    if end_text is None:
        end = first_instant_at(naive_start + timedelta(days=1), tz)
    else:
        last = parse_time(end_text, tz)
        notes += [last.note] if last.note else []
        end = day_end(last.local.date(), tz) if last.is_date else last.at
    if end <= first.at:
        raise InvalidDatetime(
            say(
                "endDate ({end}) must be after startDate ({start}).",
                end=speakable(end, tz),
                start=speakable(first.at, tz),
            ),
            data={"start": iso_local(first.at, tz), "end": iso_local(end, tz)},
        )
    # Days are counted on the local calendar, so a range across a DST change is not cut
    # an hour short (or long).
    limit = first_instant_at(naive_start + timedelta(days=max_days), tz)
    if end > limit:
        raise InvalidDatetime(
            say(
                "The range may span at most {days} days; ask up to {limit} and then continue "
                "from there.",
                days=max_days,
                limit=speakable(limit, tz),
            ),
            data={"start": iso_local(first.at, tz), "latestEnd": iso_local(limit, tz)},
        )
    return TimeRange(first.at, end, tuple(notes))


# --- Local wall-clock times ------------------------------------------------------------------


def _offset(naive: datetime, tz: tzinfo, fold: int) -> timedelta:
    offset = naive.replace(tzinfo=tz, fold=fold).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _offset_of_instant(seconds: int, tz: tzinfo) -> timedelta:
    offset = datetime.fromtimestamp(seconds, tz).utcoffset()
    assert offset is not None
    return offset


def _gap_end(naive: datetime, tz: tzinfo) -> datetime:
    """The instant the clock jumped over `naive` (which lies in a DST gap), in UTC.

    Read as the offset before the jump (`fold=0`), `naive` names an instant after the
    jump; read as the offset after it (`fold=1`), one before. The jump lies between:
    bisect to the second (a gap is at most a day long, so ~17 steps).
    """
    before, after = _offset(naive, tz, 0), _offset(naive, tz, 1)
    wall = int((naive - datetime(1970, 1, 1)).total_seconds())
    lo = wall - int(after.total_seconds())  # still on the old offset
    hi = wall - int(before.total_seconds())  # already on the new offset
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_of_instant(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _is_gap(naive: datetime, tz: tzinfo) -> bool:
    # A time in a gap does not survive the round trip through UTC; every other does.
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive


def resolve_local(naive: datetime, tz: ZoneInfo) -> tuple[datetime, str | None]:
    """The instant (UTC) a caller meant by wall-clock time `naive` in `tz`, and a note.

    In a fold the first occurrence is taken and the note says so; in a gap
    `InvalidDatetime` names the nearest valid times on either side.
    """
    first, second = _offset(naive, tz, 0), _offset(naive, tz, 1)
    if first == second:
        return naive.replace(tzinfo=tz).astimezone(UTC), None
    shown = naive.isoformat(timespec="minutes" if naive.second == 0 else "seconds")
    if _is_gap(naive, tz):
        jump = _gap_end(naive, tz)
        before, after = (jump - timedelta(minutes=1)).astimezone(tz), jump.astimezone(tz)
        values = {
            "jump_from": wall_clock((jump + first).replace(tzinfo=None)),
            "jump_to": wall_clock((jump + second).replace(tzinfo=None)),
        }
        if speech.current().voice:  # the zone is named once, at the end of the result
            message = say(
                "{value} does not exist: that day the clocks jump forward from {jump_from} "
                "to {jump_to}. The nearest valid times are {before} and {after}.",
                value=wall_time(naive, tz),
                before=speakable(before, tz),
                after=speakable(after, tz),
                **values,
            )
        else:
            message = say(
                "{value} does not exist in {zone}: that day the clocks jump forward from "
                "{jump_from} to {jump_to}. The nearest valid times are {before} and {after}.",
                value=shown,
                zone=zone_name(tz),
                before=iso_local(before, tz),
                after=iso_local(after, tz),
                **values,
            )
        raise InvalidDatetime(
            message,
            data={
                "value": shown,
                "timeZone": zone_name(tz),
                "nearestValid": [iso_local(before, tz), iso_local(after, tz)],
            },
        )
    at = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    later = naive.replace(tzinfo=timezone(second))
    if speech.current().voice:  # the offset that picks the second one is not for the ear
        note = say(
            "{value} happens twice (the clocks go back that day); I used the first one.",
            value=wall_time(naive, tz),
        )
    else:
        note = say(
            "{value} happens twice in {zone} (the clocks go back that day); I used the "
            "first occurrence, {first}. For the second one, send {second}.",
            value=shown,
            zone=zone_name(tz),
            first=speakable(at, tz),
            second=later.isoformat(),
        )
    return at, note


def first_instant_at(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) whose wall-clock time in `tz` reads `naive` or later.

    For times the caller did not write (a day's start, "start + 1 day"): in a fold the
    first occurrence; in a gap the instant the clocks jumped, which is the first one
    reading later than `naive`. Never raises.
    """
    if _offset(naive, tz, 0) != _offset(naive, tz, 1) and _is_gap(naive, tz):
        return _gap_end(naive, tz)
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) of local day `day` in `tz`; not always 00:00 local, as some
    zones move their clocks at midnight."""
    return first_instant_at(datetime(day.year, day.month, day.day), tz)


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after local day `day` in `tz`: the exclusive end of the day."""
    return day_start(day + timedelta(days=1), tz)


# --- Checks on a requested start --------------------------------------------------------------


def _ceil_minute(dt: datetime) -> datetime:
    # In UTC: a local wall-clock "+ 1 minute" could land on the wrong side of a fold.
    # Every offset in use is whole minutes, so whole UTC minutes are whole local ones.
    utc = dt.astimezone(UTC)
    floor = utc.replace(second=0, microsecond=0)
    return floor if floor == utc else floor + timedelta(minutes=1)


def check_start(
    start: datetime,
    *,
    now: datetime,
    tz: ZoneInfo,
    min_notice_minutes: int,
    horizon_end: datetime | None = None,
) -> None:
    """Refuse a start in the past, inside the minimum notice, or beyond the horizon.

    Each refusal is an `InvalidDatetime` naming the earliest (or latest) acceptable time,
    in the caller's zone, so the model can offer it instead.
    """
    start, now = start.astimezone(UTC), now.astimezone(UTC)
    soonest = now + timedelta(minutes=min_notice_minutes)
    earliest = _ceil_minute(soonest)  # what we suggest: a time worth saying aloud
    data = {
        "start": iso_local(start, tz),
        "now": iso_local(now, tz),
        "earliest": iso_local(earliest, tz),
        "earliestUtc": iso_utc(earliest),
    }
    if start < now:
        raise InvalidDatetime(
            say(
                "{start} is in the past (it is now {now}). The earliest start I can accept "
                "is {earliest}.",
                start=speakable(start, tz),
                now=speakable(now, tz),
                earliest=speakable(earliest, tz),
            ),
            data=data,
        )
    if start < soonest:
        raise InvalidDatetime(
            say(
                "{start} is too soon: bookings need {minutes} minutes' notice. The earliest "
                "start I can accept is {earliest}.",
                start=speakable(start, tz),
                minutes=min_notice_minutes,
                earliest=speakable(earliest, tz),
            ),
            data=data,
        )
    if horizon_end is not None and start >= horizon_end.astimezone(UTC):
        raise InvalidDatetime(
            say(
                "{start} is too far ahead: bookings are open until {end}.",
                start=speakable(start, tz),
                end=speakable(horizon_end, tz),
            ),
            data={**data, "horizonEnd": iso_local(horizon_end, tz)},
        )


def check_range(window: TimeRange, *, now: datetime, tz: ZoneInfo) -> None:
    """Refuse an availability range that is over before `now`.

    A range that has only begun is fine (today's date asks for the rest of today); the
    slot engine drops what is past or inside the notice.
    """
    if window.end <= now.astimezone(UTC):
        raise InvalidDatetime(
            say(
                "That range ended before now ({now}); ask about a later date.",
                now=speakable(now, tz),
            ),
            data={"end": iso_local(window.end, tz), "now": iso_local(now, tz)},
        )
