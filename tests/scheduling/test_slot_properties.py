"""Properties of the slot engine over random calendars (hypothesis), centred on the DST
changes of America/New_York, Europe/London and Australia/Lord_Howe (a 30-minute shift).

Each property is checked from first principles with zoneinfo, not with the engine's
own helpers; the last test compares the engine with a minute-by-minute brute force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcal.scheduling.slots import AvailabilityRules, Interval, free_slots, parse_working_hours
from tests.scheduling.support import DST_ZONES, offset, transitions

PROPERTIES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Scenario:
    rules: AvailabilityRules
    hours: tuple[tuple[int, int, int], ...]  # (weekday, start minute, end minute), as given
    busy: tuple[Interval, ...]
    start: datetime
    end: datetime
    now: datetime
    duration: int | None

    @property
    def tz(self) -> ZoneInfo:
        return self.rules.tz

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=self.duration or self.rules.slot_minutes)

    def slots(self) -> list[Interval]:
        return free_slots(
            self.rules,
            self.busy,
            start=self.start,
            end=self.end,
            now=self.now,
            duration_minutes=self.duration,
        )

    def horizon_end(self) -> datetime:
        # Midnight starting the local day after `horizon_days` days; midnight is never in
        # a gap or fold in these zones, so plain zoneinfo is exact.
        last = self.now.astimezone(self.tz).date() + timedelta(days=self.rules.horizon_days + 1)
        return datetime(last.year, last.month, last.day, tzinfo=self.tz).astimezone(UTC)


quarter_hours = st.integers(0, 96).map(lambda q: q * 15)


@st.composite
def hour_entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        if "sun" not in days and draw(st.booleans()):
            days.append("sun")  # every DST change here happens on a Sunday
        # Often hours that span the small-hours DST changes, or the whole day.
        start, end = draw(
            st.one_of(
                st.just((0, 1440)),
                st.just((60, 210)),
                st.tuples(quarter_hours, quarter_hours)
                .map(sorted)
                .filter(lambda pair: pair[0] < pair[1]),
            )
        )
        hhmm = [f"{m // 60:02d}:{m % 60:02d}" for m in (start, end)]
        entries.append({"days": days, "start": hhmm[0], "end": hhmm[1]})
    return entries


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    tz = draw(st.sampled_from(DST_ZONES))
    # Around one of the zone's 2026 DST changes three times in four, anywhere in 2026 else.
    if draw(st.integers(0, 3)):
        anchor = draw(st.sampled_from([at for at, _, _ in transitions(tz, 2026)]))
    else:
        anchor = draw(
            st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
        )
    # The requested range holds the anchor; `now` is before it or a little into it.
    start = anchor - timedelta(minutes=draw(st.integers(0, 1440)))
    end = anchor + timedelta(minutes=draw(st.integers(1, 1440)))
    now = start - timedelta(seconds=draw(st.integers(-6 * 3600, 2 * 86_400)))
    entries = draw(hour_entries())
    rules = AvailabilityRules(
        tz=tz,
        working_hours=parse_working_hours(entries),
        slot_minutes=draw(st.sampled_from([15, 20, 30, 45, 60, 90])),
        min_notice_minutes=draw(st.one_of(st.just(0), st.integers(0, 720))),
        buffer_minutes=draw(st.one_of(st.just(0), st.integers(0, 60))),
        horizon_days=draw(st.one_of(st.integers(0, 2), st.just(60))),
    )
    busy = []
    for _ in range(draw(st.integers(0, 15))):
        begin = anchor + timedelta(seconds=draw(st.integers(-3 * 86_400, 3 * 86_400)))
        length = timedelta(seconds=draw(st.integers(1, 5 * 3600)))
        # now and then off the whole second, as freeBusy never is but an Interval may be
        begin -= timedelta(microseconds=draw(st.sampled_from([0, 0, 0, 1, 500_000])))
        length += timedelta(microseconds=draw(st.sampled_from([0, 0, 0, 1, 999_999])))
        busy.append(Interval(begin, begin + length))
    duration = draw(st.one_of(st.none(), st.integers(5, 240)))
    hours = tuple(
        (DAYS.index(day), minutes(entry["start"]), minutes(entry["end"]))
        for entry in entries
        for day in entry["days"]
    )
    return Scenario(rules, hours, tuple(busy), start, end, now, duration)


def minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def wall_minutes(instant: datetime, tz: ZoneInfo) -> tuple[datetime, float]:
    """The local date (as a naive midnight) and the minutes after it, at `instant`."""
    wall = instant.astimezone(tz).replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight, (wall - midnight).total_seconds() / 60


def stretches(scenario: Scenario, weekday: int) -> list[tuple[int, int]]:
    """The weekday's working hours as disjoint stretches of minutes (entries that overlap
    or touch joined), the way a person reads a list of hours."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted((s, e) for day, s, e in scenario.hours if day == weekday):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def stretch_of(scenario: Scenario, weekday: int, a: float, b: float) -> tuple[int, int] | None:
    """The stretch of hours holding all of [a, b] (minutes after local midnight), if any."""
    return next(((s, e) for s, e in stretches(scenario, weekday) if s <= a and b <= e), None)


def in_hours(scenario: Scenario, first: datetime, last: datetime) -> bool:
    """Whether every instant in [first, last] reads, on one local date, within one stretch
    of that weekday's working hours. Between offset changes the wall clock moves with
    real time, so checking both ends of each constant-offset piece is exact."""
    tz = scenario.tz
    pieces = [(first, last)]
    if offset(first, tz) != offset(last, tz):
        lo, hi = first, last  # bisect the change (there is at most one within a slot)
        while hi - lo > timedelta(microseconds=1):
            mid = lo + (hi - lo) / 2
            lo, hi = (mid, hi) if offset(mid, tz) == offset(first, tz) else (lo, mid)
        pieces = [(first, lo), (hi, last)]
    held = set()
    for a, b in pieces:
        day_a, minute_a = wall_minutes(a, tz)
        day_b, minute_b = wall_minutes(b, tz)
        stretch = stretch_of(scenario, day_a.weekday(), minute_a, minute_b)
        if day_a != day_b or stretch is None:
            return False
        held.add((day_a, stretch))
    return len(held) == 1


@PROPERTIES
@given(scenarios())
def test_no_slot_overlaps_a_busy_interval_or_its_buffer(scenario: Scenario) -> None:
    buffer = timedelta(minutes=scenario.rules.buffer_minutes)
    for slot in scenario.slots():
        for busy in scenario.busy:
            assert slot.end <= busy.start - buffer or slot.start >= busy.end + buffer


@PROPERTIES
@given(scenarios())
def test_every_slot_lies_inside_local_working_hours(scenario: Scenario) -> None:
    for slot in scenario.slots():
        # [start, end): the last instant inside is a microsecond before the end
        assert in_hours(scenario, slot.start, slot.end - timedelta(microseconds=1)), slot


@PROPERTIES
@given(scenarios())
def test_every_slot_is_exactly_its_length_in_real_time_and_slots_do_not_overlap(
    scenario: Scenario,
) -> None:
    slots = scenario.slots()
    for slot in slots:
        assert slot.start.tzinfo is UTC
        assert slot.end.tzinfo is UTC
        assert slot.end - slot.start == scenario.length
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert earlier.start < later.start
        if scenario.duration is None:  # with a longer duration, candidates may overlap
            assert earlier.end <= later.start


@PROPERTIES
@given(scenarios())
def test_every_slot_start_is_a_valid_local_time(scenario: Scenario) -> None:
    tz = scenario.tz
    for slot in scenario.slots():
        local = slot.start.astimezone(tz)
        wall = local.replace(tzinfo=None)
        # the wall time exists (no gap) and names this instant (with its fold) again
        assert wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        assert wall.replace(tzinfo=tz, fold=local.fold).astimezone(UTC) == slot.start


@PROPERTIES
@given(scenarios())
def test_no_slot_is_before_now_plus_notice_beyond_the_horizon_or_outside_the_range(
    scenario: Scenario,
) -> None:
    earliest = scenario.now + timedelta(minutes=scenario.rules.min_notice_minutes)
    horizon = scenario.horizon_end()
    assert scenario.rules.horizon_end(scenario.now) == horizon
    for slot in scenario.slots():
        assert slot.start >= earliest
        assert slot.end <= horizon
        assert scenario.start <= slot.start
        assert slot.end <= scenario.end


def brute_force(scenario: Scenario) -> list[tuple[datetime, datetime]]:
    """The slots, found by reading the clock minute by minute.

    A window is a run of consecutive minutes whose local reading falls on one date
    within that weekday's hours; slots start every `slot_minutes` from the run's first
    minute, and must be free, in the range, after the notice and before the horizon.
    """
    tz, step, length = scenario.tz, timedelta(minutes=scenario.rules.slot_minutes), scenario.length
    earliest = scenario.now + timedelta(minutes=scenario.rules.min_notice_minutes)
    latest = min(scenario.end, scenario.horizon_end())
    first = max(scenario.start, earliest)
    if first >= latest:
        return []
    buffer = timedelta(minutes=scenario.rules.buffer_minutes)
    blocked = [(b.start - buffer, b.end + buffer) for b in scenario.busy]
    # Runs of consecutive minutes on one local date within one stretch of hours:
    # (date, stretch, opens, closes).
    runs: list[tuple[datetime, tuple[int, int], datetime, datetime]] = []
    t = (first - timedelta(hours=26)).replace(second=0, microsecond=0)
    while t < latest:
        day, minute = wall_minutes(t, tz)
        stretch = stretch_of(scenario, day.weekday(), minute, minute + 1)
        if stretch is not None:
            if runs and runs[-1][:2] == (day, stretch) and runs[-1][3] == t:
                runs[-1] = (day, stretch, runs[-1][2], t + timedelta(minutes=1))
            else:
                runs.append((day, stretch, t, t + timedelta(minutes=1)))
        t += timedelta(minutes=1)
    found = []
    for _, _, opens, closes in runs:
        s = opens
        while s + length <= closes:
            e = s + length
            free = all(e <= b0 or s >= b1 for b0, b1 in blocked)
            if free and s >= first and e <= latest:
                found.append((s, e))
            s += step
    return found


@settings(PROPERTIES, max_examples=60)
@given(scenarios())
def test_slots_are_exactly_what_a_minute_by_minute_brute_force_finds(scenario: Scenario) -> None:
    assert [(slot.start, slot.end) for slot in scenario.slots()] == brute_force(scenario)
