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

Times in results are written in the bot's language (`agentcal.scheduling.speech`),
with babel's names of weekdays and months. To be read, `speakable` writes "Monday 23
November 2026, 10:00 (UTC-03:00)" ("segunda-feira, 23 de novembro de 2026, 10:00
(UTC-03:00)") — weekday, day, month name, year, 24-hour local time, UTC offset: the
offset rather than an abbreviation, as abbreviations are ambiguous (CST is three
zones). To be heard (a voice channel), "Monday the 23rd of November at 10 in the
morning": no offset and no year unless it is not this one, the zone named once for
the whole result. For a program, `iso_local` and `iso_utc` give ISO 8601 with the
local offset and in UTC with `Z`.

Messages raised from here are said with `speech.say`, so they too are in the bot's
language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import get_global
from babel.dates import (
    format_date,
    format_time,
    get_period_id,
    get_period_names,
    get_timezone_location,
)
from babel.lists import format_list

from agentcal.kit.validation import timezone_names
from agentcal.scheduling import speech
from agentcal.scheduling.errors import InvalidDatetime, InvalidTimezone
from agentcal.scheduling.speech import babel_locale, say, say_plural, translatable

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


def zone_name(tz: tzinfo) -> str:
    """The name results state for `tz`: its IANA key, else what `tzname` gives."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz.tzname(None) or tz)


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


# --- Writing ------------------------------------------------------------------------------
#
# Every phrase is in the current language (`speech.current()`), with babel's names of
# weekdays and months, and written for the current mode. To be read (REST, MCP, a
# model reading the result): "Monday 23 November 2026, 10:00 (UTC-03:00)", the offset
# on every time. To be heard (voice channels): "Monday the 23rd of November at 10 in
# the morning" — no offsets, no ISO strings, the year only when it is not this one,
# and the zone left out, noted for the one sentence that names it (`speech.ending`).

# Babel's full date, except in English, which reads "Monday 23 November 2026".
_TEXT_DATE = {"en": "EEEE d MMMM y"}
MAX_HEARD_OPTIONS = 4  # times a listener is offered at once


def _language() -> str:
    return speech.current().language


def _locale() -> str:
    return babel_locale(_language())


def _heard() -> bool:
    return speech.current().voice


def utc_offset(dt: datetime, tz: tzinfo) -> str:
    """`UTC-03:00`, `UTC+10:30`, `UTC+00:00`: the offset of `tz` at instant `dt`."""
    offset = dt.astimezone(tz).utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=1024)
def _city(key: str, locale: str) -> str | None:
    """The place CLDR names zone `key` after, in `locale`; None for a zone that is no
    place (UTC, `Etc/GMT+5`, `EST5EDT`)."""
    canonical = get_global("zone_aliases").get(key, key)
    territory = get_global("zone_territories").get(canonical)
    named = territory not in (None, "001", "ZZ") or "city" in Locale("en").time_zones.get(
        canonical, {}
    )
    if canonical.startswith("Etc/") or not named:
        return None
    return get_timezone_location(canonical, locale=locale, return_city=True)


def zone_words(tz: tzinfo, at: datetime) -> str:
    """The zone as a listener hears it: "São Paulo time", "horário de São Paulo",
    "hora de São Paulo"; a zone that is no place by its distance from Greenwich at `at`."""
    city = _city(zone_name(tz), _locale())
    if city is not None:
        return say("{city} time", city=city)
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return say("Greenwich time")
    hours, odd = divmod(abs(minutes), 60)
    if odd:
        amount = say_plural("{count} minute", "{count} minutes", abs(minutes))
    else:
        amount = say_plural("{count} hour", "{count} hours", hours)
    if minutes > 0:
        return say("Greenwich time plus {amount}", amount=amount)
    return say("Greenwich time minus {amount}", amount=amount)


def _day_number(day: int) -> str:
    """The day of the month as said before a month's name: "7th", "1º", "7"."""
    language = _language()
    if language == "en":
        suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        return f"{day}{suffix}"
    if language == "pt-BR" and day == 1:
        return "1º"  # "1º de dezembro", as Brazilians write and say the first
    return str(day)


def _heard_date(day: date, tz: tzinfo) -> str:
    """`Monday the 7th of December`: weekday and date, the year only if not this one."""
    locale = _locale()
    values = {
        "weekday": format_date(day, "EEEE", locale=locale),
        "day": _day_number(day.day),
        "month": format_date(day, "MMMM", locale=locale),
    }
    if day.year == datetime.now(tz).year:
        return say("{weekday} the {day} of {month}", **values)
    return say("{weekday} the {day} of {month} {year}", year=str(day.year), **values)


def _period(clock: time) -> str:
    """The part of the day babel's English names for `clock`: morning1, noon, …"""
    return get_period_id(clock, locale="en")


def _heard_clock(clock: time, *, period: bool = True) -> str:
    """`9:30 in the morning` (English, 12-hour, with the part of the day unless
    `period` is off), `9h30` (Portuguese), `9:30` (Spanish); never seconds."""
    clock = clock.replace(second=0, microsecond=0)
    language, locale = _language(), _locale()
    if language == "en":
        name = _period(clock)
        names = get_period_names("wide", "format", locale="en")
        if name in ("noon", "midnight"):
            return str(names[name])
        said = format_time(clock, "h:mm" if clock.minute else "h", locale=locale)
        return f"{said} {names[name]}" if period else said
    if language == "pt-BR":
        return format_time(clock, "H'h'mm" if clock.minute else "H'h'", locale=locale)
    return format_time(clock, "H:mm", locale=locale)


def _or_list(items: list[str]) -> str:
    """`9, 9:30, or 11`: babel's list, with Spanish's `u` before a word that starts
    with an o sound (ocho, once)."""
    said = format_list(items, style="or", locale=_locale())
    if _language() == "es" and len(items) > 1 and items[-1].startswith(("8:", "11:")):
        cut = said.rfind(" o ")
        said = said[:cut] + " u " + said[cut + 3 :]
    return said


def _heard_clocks(clocks: list[time]) -> str:
    """Times of one day as a list to choose from: "9:00, 9:30 o 11:00"; in English, with
    the part of the day said once for the times that share it: "9, 9:30, or 11 in the
    morning, or 2 in the afternoon"."""
    if _language() != "en":
        return _or_list([_heard_clock(clock) for clock in clocks])
    runs: list[list[time]] = []
    for clock in clocks:
        if runs and _period(runs[-1][-1]) == _period(clock):
            runs[-1].append(clock)
        else:
            runs.append([clock])
    said = []
    for run in runs:
        items = [_heard_clock(clock, period=False) for clock in run]
        part = _heard_clock(run[-1])  # the last time, with its part of the day
        said.append(part if len(run) == 1 else _or_list(items[:-1] + [part]))
    return ", or ".join(said)  # English only: the runs are alternatives, each its own list


def _heard_at(day: date, clocks: list[time], tz: tzinfo) -> str:
    """`Monday the 7th of December at 9 or 11 in the morning`."""
    # The article of Portuguese and Spanish agrees with the first hour, as with a
    # count ("à 1h", "às 2h"; "a la 1:00", "a las 2:00").
    return say_plural(
        "{date} at {times}",
        "{date} at {times}",
        clocks[0].hour,
        date=_heard_date(day, tz),
        times=_heard_clocks(clocks),
    )


def _heard_instant(dt: datetime, tz: tzinfo) -> str:
    local = dt.astimezone(tz)
    speech.heard_zone(zone_words(tz, dt))
    return _heard_at(local.date(), [local.time()], tz)


def speakable_date(dt: datetime, tz: tzinfo) -> str:
    """`Monday 23 November 2026` (to be heard: `Monday the 23rd of November`)."""
    local = dt.astimezone(tz)
    if _heard():
        speech.heard_zone(zone_words(tz, dt))
        return _heard_date(local.date(), tz)
    locale = _locale()
    return format_date(local.date(), _TEXT_DATE.get(_language(), "full"), locale=locale)


def speakable_clock(dt: datetime, tz: tzinfo) -> str:
    """`10:00` (24-hour local time; seconds only when there are some)."""
    local = dt.astimezone(tz)
    return local.strftime("%H:%M:%S" if local.second else "%H:%M")


def wall_clock(naive: datetime) -> str:
    """A wall-clock reading with no instant behind it (a DST gap's edges): `02:00`,
    or to be heard `2 in the morning`."""
    if _heard():
        return _heard_clock(naive.time())
    return naive.strftime("%H:%M:%S" if naive.second else "%H:%M")


def wall_time(naive: datetime, tz: tzinfo) -> str:
    """A local date and time a caller wrote, which may not exist: `2026-03-08T02:30`,
    or to be heard `Sunday the 8th of March at 2:30 in the morning`."""
    if _heard():
        speech.heard_zone(zone_words(tz, naive.replace(tzinfo=tz)))
        return _heard_at(naive.date(), [naive.time()], tz)
    return naive.isoformat(timespec="minutes" if naive.second == 0 else "seconds")


def speakable(dt: datetime, tz: tzinfo) -> str:
    """`Monday 23 November 2026, 10:00 (UTC-03:00)`: instant `dt` in zone `tz`; to be
    heard, `Monday the 23rd of November at 10 in the morning`."""
    if _heard():
        return _heard_instant(dt, tz)
    return f"{speakable_date(dt, tz)}, {speakable_clock(dt, tz)} ({utc_offset(dt, tz)})"


def speakable_span(start: datetime, end: datetime, tz: tzinfo) -> str:
    """`Monday 23 November 2026, 10:00 to 10:30 (UTC-03:00)`.

    Shortened only when both ends share the local date (and, to be read, the offset);
    across midnight or a DST change both ends are written in full. To be heard:
    `Monday the 23rd of November from 10 to 10:30 in the morning`.
    """
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    same_day = local_start.date() == local_end.date()
    if _heard():
        if not same_day:
            return say("{start} to {end}", start=_heard_instant(start, tz), end=speakable(end, tz))
        speech.heard_zone(zone_words(tz, start))
        # The part of the day is said once when both ends share it.
        shared = _language() == "en" and _period(local_start.time()) == _period(local_end.time())
        return say(
            "{date} {start} {end}",
            date=_heard_date(local_start.date(), tz),
            start=say_plural(
                "from {time}",
                "from {time}",
                local_start.hour,
                time=_heard_clock(local_start.time(), period=not shared),
            ),
            end=say_plural(
                "to {time}", "to {time}", local_end.hour, time=_heard_clock(local_end.time())
            ),
        )
    if same_day and utc_offset(start, tz) == utc_offset(end, tz):
        return say(
            "{date}, {start} to {end} ({offset})",
            date=speakable_date(start, tz),
            start=speakable_clock(start, tz),
            end=speakable_clock(end, tz),
            offset=utc_offset(start, tz),
        )
    return say("{start} to {end}", start=speakable(start, tz), end=speakable(end, tz))


def speakable_times(starts: Iterable[datetime], tz: tzinfo, *, limit: int = 12) -> str:
    """A short list of start times grouped by local day, at most `limit` of them.

    To be read: `Monday 23 November 2026 (UTC-03:00): 10:00, 10:30, 14:00; Tuesday 24
    November 2026 (UTC-03:00): 09:00; and 5 more` — a day whose offset changes gets one
    group per offset. To be heard: at most `MAX_HEARD_OPTIONS`, spread over the first
    days and over each day, the rest counted: `Monday the 23rd of November at 10 in the
    morning or 2 in the afternoon; Tuesday the 24th of November at 9 in the morning;
    and 5 more times until Friday the 27th of November`.
    """
    times = sorted(starts, key=lambda dt: dt.astimezone(UTC))  # by instant, not wall clock
    if _heard():
        return _heard_times(times, tz, min(limit, MAX_HEARD_OPTIONS))
    groups: list[tuple[str, list[str]]] = []
    for dt in times[:limit]:
        head = f"{speakable_date(dt, tz)} ({utc_offset(dt, tz)})"
        if not groups or groups[-1][0] != head:
            groups.append((head, []))
        groups[-1][1].append(speakable_clock(dt, tz))
    text = "; ".join(f"{head}: {', '.join(clocks)}" for head, clocks in groups)
    if len(times) > limit:
        more = len(times) - limit
        text += "; " + say_plural("and {count} more", "and {count} more", more)
    return text


def _by_day(times: list[datetime], tz: tzinfo) -> dict[date, list[datetime]]:
    days: dict[date, list[datetime]] = {}
    for dt in times:
        days.setdefault(dt.astimezone(tz).date(), []).append(dt)
    return days


def _spread(times: list[datetime], count: int) -> list[datetime]:
    """`count` of `times`, the first and the last among them and the rest evenly
    between: a listener hears the range of a day, not its first half hour."""
    if count >= len(times):
        return times
    if count == 1:
        return times[:1]
    last = len(times) - 1
    return [times[round(i * last / (count - 1))] for i in range(count)]


def _choose_heard(times: list[datetime], tz: tzinfo, limit: int) -> list[datetime]:
    """The times offered to a listener: all when there are at most `limit`; else from
    the first days, about half of `limit` a day when there are several, spread."""
    if len(times) <= limit:
        return times
    days = list(_by_day(times, tz).values())
    per_day = limit if len(days) == 1 else max(1, limit // 2)
    chosen: list[datetime] = []
    for day in days:
        if len(chosen) >= limit:
            break
        chosen += _spread(day, min(per_day, limit - len(chosen), len(day)))
    return chosen


def _heard_times(times: list[datetime], tz: tzinfo, limit: int) -> str:
    if not times:
        return ""
    speech.heard_zone(zone_words(tz, times[0]))
    chosen = _choose_heard(times, tz, limit)
    days = _by_day(chosen, tz)
    text = "; ".join(
        _heard_at(day, [dt.astimezone(tz).time() for dt in group], tz)
        for day, group in days.items()
    )
    offered = set(chosen)
    rest = [dt for dt in times if dt not in offered]
    if not rest:
        return text
    rest_days = list(_by_day(rest, tz))
    if len(rest_days) == 1 and list(days) == rest_days:
        more = say_plural(
            "and {count} more time that day", "and {count} more times that day", len(rest)
        )
    elif len(rest_days) == 1:
        more = say_plural(
            "and {count} more time on {date}",
            "and {count} more times on {date}",
            len(rest),
            date=_heard_date(rest_days[0], tz),
        )
    else:
        more = say_plural(
            "and {count} more time until {date}",
            "and {count} more times until {date}",
            len(rest),
            date=_heard_date(rest_days[-1], tz),
        )
    return f"{text}; {more}"


def iso_local(dt: datetime, tz: tzinfo) -> str:
    """ISO 8601 in `tz` with its offset: `2026-11-23T10:00:00-03:00`."""
    return dt.astimezone(tz).isoformat()


def iso_utc(dt: datetime) -> str:
    """ISO 8601 in UTC with `Z`: `2026-11-23T13:00:00Z`."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
