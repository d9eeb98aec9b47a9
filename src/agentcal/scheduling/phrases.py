"""Writing times for results: to be read, or to be heard, in the bot's language.

To be read (REST, MCP, a model reading the result): "Monday 23 November 2026, 10:00
(UTC-03:00)" — weekday, date, 24-hour local time and the UTC offset, never an
abbreviation (CST is three zones). To be heard (voice channels): "Monday the 23rd of
November at 10 in the morning", no offsets, no ISO strings, the zone named once per
result (`speech.ending`). Names of weekdays, months and day periods come from babel.
For a program, `iso_local` and `iso_utc` give ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

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

from agentcal.scheduling import speech
from agentcal.scheduling.speech import babel_locale, say, say_plural


def zone_name(tz: tzinfo) -> str:
    """The name results state for `tz`: its IANA key, else what `tzname` gives."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz.tzname(None) or tz)


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
    """The zone as a listener hears it: "São Paulo time", "fuso horário de São Paulo",
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
        if utc_offset(start, tz) != utc_offset(end, tz):
            # The clocks change during it: "from 1:30 to 1:30" would say nothing.
            minutes = int((end - start).total_seconds() // 60)
            return say(
                "{when}, for {minutes} minutes", when=_heard_instant(start, tz), minutes=minutes
            )
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
