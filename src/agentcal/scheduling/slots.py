"""Free slots of a calendar from its working hours and busy intervals.

Google has no slot endpoint, so agentcal computes availability itself:

    free slots = working hours (local, per weekday, in the function's timezone)
                 − busy intervals (from freeBusy), each widened by `buffer_minutes`
                   on both sides
                 − everything before now + `min_notice_minutes`
                 − everything after the booking horizon
                 ∩ the requested range [start, end)

Definitions, chosen so that every rule holds in real (UTC) time across DST changes:

* **Working window.** The window of local date D for hours `[09:00, 18:00)` is the set
  of instants whose wall-clock reading in the zone falls on D between 09:00 and 18:00.
  On a day the clocks jump forward through the hours, the window is shorter in real
  time; hours starting inside the gap open when the clocks land (02:30 on 2026-03-08 in
  America/New_York opens at 03:00 EDT). On a day the clocks go back, hours covering the
  repeated stretch are longer in real time, and hours that start inside it are open in
  both occurrences of the times they cover (01:30–03:00 on 2026-11-01 in New York is
  open 01:30–02:00 EDT, then again from 01:30 EST), each part a window of its own.
  Working-hours entries that overlap or touch on a weekday are merged first. A window
  never crosses local midnight, so `00:00`–`24:00` every day is one window per day.
* **Alignment.** Slot starts lie on a grid of `slot_minutes` counted in real time from
  the instant each window opens: hours from 09:00 with 30-minute slots offer 09:00,
  09:30, … whatever the notice or the busy intervals, so offered times stay round.
  Counting in real time keeps every slot exactly its length and slots never overlap
  one another, even in a window that spans a DST change (after a 30-minute shift, as on
  Lord Howe Island, that window's later starts fall on the half hour; the next day's
  window is aligned afresh).
* **Duration.** A slot lasts `duration_minutes` of real time (default `slot_minutes`).
  A longer duration still starts on the grid, and the whole duration must be free and
  inside the window and the range.
* **Busy, notice, horizon.** A slot must not overlap any busy interval widened by the
  buffer (touching is fine: intervals are half-open); it must start at or after
  now + notice; and it must end by the horizon, which is the end of the local day
  `horizon_days` after today (today is day 0), the way calendar products count a
  "60 days ahead" window.

Speed (the bar: 60 days, 2 000 busy intervals, 30-minute slots in ≤ 5 ms): all work is
on integer POSIX seconds. Busy intervals are converted, sorted and merged once; windows
and busy intervals are then swept together in one pass, jumping past each busy interval
to the next grid point, so the cost is linear in windows + busy + slots.
`bench/slot_engine.py` measures it.

Assumption: a zone changes its offset at most once within any 24 hours (true of every
zone in the tz database since 1970); offsets are found by sampling once a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil, floor
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.scheduling.times import day_end, load_zone

DAY = 86_400
# 1970-01-01 was a Thursday; with Monday = 0, day number n is weekday (n + 3) % 7.
_EPOCH_WEEKDAY = 3
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WorkingWindow:
    """Working hours of one weekday, as local wall-clock minutes `[start_minute, end_minute)`.

    `weekday` is 0 for Monday … 6 for Sunday; `end_minute` may be 1440 (24:00).
    """

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if not 0 <= self.start_minute < self.end_minute <= 1440:
            raise ValueError(
                f"hours must satisfy 00:00 <= start < end <= 24:00, not "
                f"{self.start_minute} to {self.end_minute} minutes"
            )


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{hhmm!r} is not a time of day as HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise ValueError(f"{hhmm!r} is not a time of day between 00:00 and 24:00")
    return value


def _merge_windows(windows: Iterable[WorkingWindow]) -> tuple[WorkingWindow, ...]:
    """Windows sorted by weekday and start, overlapping or touching ones merged."""
    merged: list[WorkingWindow] = []
    for window in sorted(windows, key=lambda w: (w.weekday, w.start_minute)):
        last = merged[-1] if merged else None
        if last and last.weekday == window.weekday and window.start_minute <= last.end_minute:
            end = max(last.end_minute, window.end_minute)
            merged[-1] = WorkingWindow(last.weekday, last.start_minute, end)
        else:
            merged.append(window)
    return tuple(merged)


def parse_working_hours(entries: Iterable[Mapping[str, Any]]) -> tuple[WorkingWindow, ...]:
    """The `workingHours` setting (`[{"days": ["mon", …], "start": "09:00", "end": "18:00"}]`)
    as windows, sorted, with overlapping or touching entries of a weekday merged.

    Raises `ValueError` for a shape the management API would have refused.
    """
    windows = []
    for entry in entries:
        start, end = _minutes(entry["start"]), _minutes(entry["end"])
        for day in entry["days"]:
            if day not in _DAY_NAMES:
                raise ValueError(f"{day!r} is not a day; use one of {', '.join(_DAY_NAMES)}")
            windows.append(WorkingWindow(_DAY_NAMES.index(day), start, end))
    return _merge_windows(windows)


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open stretch of time `[start, end)` between two aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an interval needs aware datetimes (with a timezone)")
        # Compared in UTC: two datetimes of one ZoneInfo compare by wall clock.
        if self.end.astimezone(UTC) <= self.start.astimezone(UTC):
            raise ValueError("an interval must end after it starts")

    @property
    def minutes(self) -> float:
        """Length in real time."""
        return (self.end.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class AvailabilityRules:
    """A calendar's scheduling settings (the function's scheduling extension fields)."""

    tz: ZoneInfo
    working_hours: tuple[WorkingWindow, ...]
    slot_minutes: int = 30
    min_notice_minutes: int = 60
    buffer_minutes: int = 0
    horizon_days: int = 60
    # Per weekday, the merged windows as (start, end) seconds after local midnight.
    _by_weekday: tuple[tuple[tuple[int, int], ...], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.slot_minutes < 1:
            raise ValueError("slot_minutes must be at least 1")
        if self.min_notice_minutes < 0 or self.buffer_minutes < 0 or self.horizon_days < 0:
            raise ValueError("notice, buffer and horizon must not be negative")
        merged = _merge_windows(self.working_hours)
        object.__setattr__(self, "working_hours", merged)
        by_weekday = tuple(
            tuple((w.start_minute * 60, w.end_minute * 60) for w in merged if w.weekday == day)
            for day in range(7)
        )
        object.__setattr__(self, "_by_weekday", by_weekday)

    @classmethod
    def from_settings(
        cls,
        *,
        timezone: str,
        working_hours: Iterable[Mapping[str, Any]],
        slot_minutes: int,
        min_notice_minutes: int,
        buffer_minutes: int,
        horizon_days: int,
    ) -> AvailabilityRules:
        """Rules from a function's stored settings (zone name, `workingHours` shape)."""
        return cls(
            tz=load_zone(timezone),
            working_hours=parse_working_hours(working_hours),
            slot_minutes=slot_minutes,
            min_notice_minutes=min_notice_minutes,
            buffer_minutes=buffer_minutes,
            horizon_days=horizon_days,
        )

    def earliest_start(self, now: datetime) -> datetime:
        """The first instant a slot may start: now + the minimum notice (UTC)."""
        return now.astimezone(UTC) + timedelta(minutes=self.min_notice_minutes)

    def horizon_end(self, now: datetime) -> datetime:
        """The instant every slot must end by: the end of the local day `horizon_days`
        after today (UTC)."""
        today = now.astimezone(self.tz).date()
        return day_end(today + timedelta(days=self.horizon_days), self.tz)


def freebusy_range(
    rules: AvailabilityRules, *, start: datetime, end: datetime, now: datetime
) -> tuple[datetime, datetime] | None:
    """The UTC range to ask freeBusy about for `free_slots` over `[start, end)`.

    Only what can matter: from the first possible slot minus the buffer to the last
    possible slot end plus the buffer. `None` when no slot is possible at all.
    """
    lo = max(start.astimezone(UTC), rules.earliest_start(now))
    hi = min(end.astimezone(UTC), rules.horizon_end(now))
    if lo >= hi:
        return None
    buffer = timedelta(minutes=rules.buffer_minutes)
    return lo - buffer, hi + buffer


def _offset_at(seconds: int, tz: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(seconds, tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return int(offset.total_seconds())


def _offset_segments(tz: ZoneInfo, a: int, b: int) -> list[tuple[int, int, int]]:
    """`[a, b)` (POSIX seconds) cut where `tz` changes its UTC offset: (from, to, offset).

    Samples the offset once a day and bisects to the second where it changed.
    """
    segments = []
    seg_start, offset = a, _offset_at(a, tz)
    t = a
    while t < b:
        sample = min(t + DAY, b)
        new = _offset_at(sample, tz)
        if new != offset:
            lo, hi = t, sample  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(mid, tz) == offset:
                    lo = mid
                else:
                    hi = mid
            segments.append((seg_start, hi, offset))
            seg_start, offset = hi, new
        t = sample
    segments.append((seg_start, b, offset))
    return segments


def _working_windows(rules: AvailabilityRules, lo: int, hi: int) -> list[tuple[int, int]]:
    """The working windows (POSIX seconds, sorted) of every local day overlapping `[lo, hi)`.

    Whole windows, not cut at `lo` or `hi`, because the slot grid is anchored where a
    window opens. Each constant-offset stretch of time maps wall-clock hours to instants
    by plain subtraction; a window cut by an offset change is rejoined when its parts
    touch (the change happened inside the hours), and left in parts when they do not
    (a fold repeated a stretch outside the hours, or a gap swallowed some).
    """
    # Two days of margin: a local day overlapping [lo, hi) starts and ends within 24 h
    # plus the largest offsets (±14 h) of lo and hi.
    a, b = lo - 2 * DAY, hi + 2 * DAY
    by_weekday = rules._by_weekday
    windows: list[list[int]] = []
    keys: list[tuple[int, int]] = []
    for seg_start, seg_end, offset in _offset_segments(rules.tz, a, b):
        wall_start, wall_end = seg_start + offset, seg_end + offset
        for day in range(wall_start // DAY, (wall_end - 1) // DAY + 1):
            midnight = day * DAY
            for index, (open_at, close_at) in enumerate(by_weekday[(day + _EPOCH_WEEKDAY) % 7]):
                start = max(midnight + open_at, wall_start) - offset
                end = min(midnight + close_at, wall_end) - offset
                if start >= end:
                    continue
                key = (day, index)
                if windows and keys[-1] == key and windows[-1][1] == start:
                    windows[-1][1] = end
                else:
                    windows.append([start, end])
                    keys.append(key)
    return [(start, end) for start, end in windows if end > lo and start < hi]


def _busy_seconds(busy: Iterable[Interval], buffer: int) -> tuple[list[int], list[int]]:
    """Busy intervals as POSIX seconds widened by `buffer`, sorted by start: (starts, ends).

    Floored at the start and ceiled at the end, which keeps overlap with whole-second
    slots exact. They are left unmerged: the sweep in `free_slots` only needs them in
    order of start. (Sorting indices by an int key is the cheapest sort here, and
    nearly free when freeBusy already answered in order, as it does.)
    """
    spans = list(busy)
    starts = [floor(item.start.timestamp()) - buffer for item in spans]
    ends = [ceil(item.end.timestamp()) + buffer for item in spans]
    order = sorted(range(len(starts)), key=starts.__getitem__)
    return [starts[i] for i in order], [ends[i] for i in order]


def free_slots(
    rules: AvailabilityRules,
    busy: Iterable[Interval],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    duration_minutes: int | None = None,
) -> list[Interval]:
    """Free slots within `[start, end)`, in time order, as UTC intervals.

    `busy` are the calendar's busy intervals (any order, may overlap; freeBusy's
    `TimePeriod`s become `Interval`s, which guarantees they are aware and non-empty);
    `now` is passed in so the result depends on nothing else. The module's docstring
    gives the rules.
    """
    if start.tzinfo is None or end.tzinfo is None or now.tzinfo is None:
        raise ValueError("start, end and now must be aware datetimes")
    step = rules.slot_minutes * 60
    length = (rules.slot_minutes if duration_minutes is None else duration_minutes) * 60
    if length <= 0:
        raise ValueError("duration_minutes must be positive")
    # A whole-second start s satisfies s >= x iff s >= ceil(x), and s + length <= y iff
    # s + length <= floor(y).
    lo = ceil(max(start.timestamp(), rules.earliest_start(now).timestamp()))
    hi = floor(min(end.timestamp(), rules.horizon_end(now).timestamp()))
    if lo + length > hi:
        return []
    windows = _working_windows(rules, lo, hi)
    busy_starts, busy_ends = _busy_seconds(busy, rules.buffer_minutes * 60)
    n_busy = len(busy_starts)

    # One sweep over windows and busy intervals, both in time order. Busy intervals are
    # sorted by start but not merged: j is the first one that has not ended by the
    # candidate start s. Those before j ended earlier and, s only growing, stay
    # irrelevant; those after j start no earlier than j. So s is blocked iff j is.
    found: list[int] = []
    j = 0
    for open_at, close_at in windows:
        s = open_at if open_at >= lo else open_at + -(-(lo - open_at) // step) * step
        last = min(close_at, hi) - length
        while s <= last:
            while j < n_busy and busy_ends[j] <= s:
                j += 1
            if j < n_busy and busy_starts[j] < s + length:
                # Blocked: jump to the first grid point at or after this busy interval's end.
                s = open_at + -(-(busy_ends[j] - open_at) // step) * step
                continue
            found.append(s)
            s += step

    delta = timedelta(seconds=length)
    slots = []
    for s in found:
        begin = datetime.fromtimestamp(s, UTC)
        slots.append(Interval(begin, begin + delta))
    return slots


def find_slot(slots: Sequence[Interval], start: datetime) -> Interval | None:
    """The slot beginning at instant `start`, if it is among `slots` (the booking re-check)."""
    at = start.astimezone(UTC)
    return next((slot for slot in slots if slot.start == at), None)
