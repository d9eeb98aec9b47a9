"""The slot engine on days worked out by hand: busy meetings, buffers, durations, notice,
horizon, working-hours shapes, and the DST days of New York and Lord Howe Island."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentcal.providers.results import nearest
from agentcal.scheduling.slots import (
    AvailabilityRules,
    Interval,
    WorkingWindow,
    find_slot,
    free_slots,
    freebusy_range,
    parse_working_hours,
)
from agentcal.scheduling.times import parse_range
from tests.scheduling.support import LORD_HOWE, NEW_YORK, local

SPLIT_DAY = [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "12:00"},
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "13:00", "end": "17:00"},
]
ALL_DAY = [{"days": ["sun"], "start": "00:00", "end": "24:00"}]
SUNDAY_BEFORE = datetime(2026, 11, 22, 17, tzinfo=UTC)  # noon in New York, EST


def rules(
    hours: list[dict[str, Any]], tz: ZoneInfo = NEW_YORK, **settings: int
) -> AvailabilityRules:
    values = {
        "slot_minutes": 30,
        "min_notice_minutes": 60,
        "buffer_minutes": 0,
        "horizon_days": 60,
    } | settings
    return AvailabilityRules.from_settings(timezone=tz.key, working_hours=hours, **values)


def busy_local(tz: ZoneInfo, *spans: tuple[str, str]) -> list[Interval]:
    """Busy intervals written as local times (none of them ambiguous)."""
    return [
        Interval(
            datetime.fromisoformat(a).replace(tzinfo=tz).astimezone(UTC),
            datetime.fromisoformat(b).replace(tzinfo=tz).astimezone(UTC),
        )
        for a, b in spans
    ]


def starts(
    slots: list[Interval], tz: ZoneInfo, fmt: str = "%H:%M", *, offsets: bool = False
) -> list[str]:
    if offsets:
        return [local(slot.start, tz) for slot in slots]
    return [slot.start.astimezone(tz).strftime(fmt) for slot in slots]


def day_slots(
    setting: AvailabilityRules,
    day: str,
    busy: Sequence[Interval] = (),
    *,
    now: datetime = SUNDAY_BEFORE,
    duration: int | None = None,
) -> list[Interval]:
    window = parse_range(day, None, setting.tz)
    return free_slots(
        setting, busy, start=window.start, end=window.end, now=now, duration_minutes=duration
    )


MEETINGS = busy_local(
    NEW_YORK, ("2026-11-23T10:00", "2026-11-23T11:00"), ("2026-11-23T14:15", "2026-11-23T15:00")
)


# --- a known day --------------------------------------------------------------------------------


def test_a_day_with_two_meetings_offers_exactly_the_free_half_hours() -> None:
    slots = day_slots(rules(SPLIT_DAY), "2026-11-23", MEETINGS)
    assert starts(slots, NEW_YORK) == [
        "09:00",
        "09:30",
        "11:00",
        "11:30",
        "13:00",
        "13:30",
        "15:00",
        "15:30",
        "16:00",
        "16:30",
    ]
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)
    assert all(slot.start.tzinfo is UTC for slot in slots)


def test_a_buffer_widens_each_meeting_on_both_sides() -> None:
    slots = day_slots(rules(SPLIT_DAY, buffer_minutes=15), "2026-11-23", MEETINGS)
    # busy becomes 09:45-11:15 and 14:00-15:15; touching it is fine
    assert starts(slots, NEW_YORK) == [
        "09:00",
        "11:30",
        "13:00",
        "13:30",
        "15:30",
        "16:00",
        "16:30",
    ]


def test_a_longer_duration_starts_on_the_grid_and_needs_all_of_it_free_and_in_hours() -> None:
    slots = day_slots(rules(SPLIT_DAY), "2026-11-23", MEETINGS, duration=60)
    assert starts(slots, NEW_YORK) == ["09:00", "11:00", "13:00", "15:00", "15:30", "16:00"]
    assert all(slot.end - slot.start == timedelta(minutes=60) for slot in slots)


def test_busy_intervals_may_come_unsorted_and_overlapping() -> None:
    messy = [
        *busy_local(NEW_YORK, ("2026-11-23T14:30", "2026-11-23T15:00")),
        *MEETINGS[::-1],
        *busy_local(NEW_YORK, ("2026-11-23T10:15", "2026-11-23T10:45")),  # inside another
        *busy_local(NEW_YORK, ("2026-11-20T10:00", "2026-11-23T08:00")),  # ends before hours
    ]
    assert day_slots(rules(SPLIT_DAY), "2026-11-23", messy) == day_slots(
        rules(SPLIT_DAY), "2026-11-23", MEETINGS
    )


def test_busy_intervals_block_to_the_microsecond_and_touching_ones_do_not() -> None:
    nine = datetime(2026, 11, 23, 14, tzinfo=UTC)  # 09:00 local
    tick = timedelta(microseconds=1)
    edges = [
        Interval(nine + timedelta(minutes=30) - tick, nine + timedelta(minutes=40)),
        Interval(nine + timedelta(minutes=50), nine + timedelta(minutes=90) + tick),
        Interval(nine + timedelta(minutes=150), nine + timedelta(minutes=180)),
    ]
    hours = [{"days": ["mon"], "start": "09:00", "end": "12:00"}]
    # 09:00 ends a microsecond after the first starts, 10:30 starts a microsecond before
    # the second ends, 11:30 is the third; 11:00 ends as the third starts, which is fine
    assert starts(day_slots(rules(hours), "2026-11-23", edges), NEW_YORK) == ["11:00"]


def test_the_requested_range_is_respected_to_the_microsecond() -> None:
    nine = datetime(2026, 11, 23, 14, tzinfo=UTC)  # 09:00 local
    tick = timedelta(microseconds=1)
    setting = rules(SPLIT_DAY)
    inside = free_slots(
        setting, [], start=nine - tick, end=nine + timedelta(hours=1), now=SUNDAY_BEFORE
    )
    assert starts(inside, NEW_YORK) == ["09:00", "09:30"]
    short = free_slots(
        setting, [], start=nine + tick, end=nine + timedelta(hours=1) - tick, now=SUNDAY_BEFORE
    )
    assert short == []


def test_the_minimum_notice_drops_early_slots_but_keeps_the_grid() -> None:
    now = datetime(2026, 11, 23, 14, 10, 30, tzinfo=UTC)  # 09:10:30 local
    slots = day_slots(rules(SPLIT_DAY), "2026-11-23", now=now)
    assert starts(slots, NEW_YORK)[:3] == ["10:30", "11:00", "11:30"]


def test_slots_end_by_the_end_of_the_local_day_horizon_days_ahead() -> None:
    now = datetime(2026, 11, 23, 21, tzinfo=UTC)  # Monday 16:00 local; notice ends today's hours
    setting = rules(SPLIT_DAY, horizon_days=1)
    window = parse_range("2026-11-23", "2026-11-25", NEW_YORK)
    slots = free_slots(setting, [], start=window.start, end=window.end, now=now)
    assert {slot.start.astimezone(NEW_YORK).date().isoformat() for slot in slots} == {"2026-11-24"}
    assert slots[-1].end == setting.horizon_end(now) - timedelta(hours=7)  # Tuesday 17:00
    assert setting.horizon_end(now).astimezone(NEW_YORK).isoformat() == "2026-11-25T00:00:00-05:00"


def test_days_without_working_hours_offer_nothing() -> None:
    assert day_slots(rules(SPLIT_DAY), "2026-11-28") == []  # a Saturday


def test_overlapping_and_touching_hours_are_merged_before_the_grid_is_laid() -> None:
    overlapping = [
        {"days": ["mon"], "start": "09:15", "end": "10:00"},
        {"days": ["mon"], "start": "09:45", "end": "11:00"},
    ]
    assert starts(day_slots(rules(overlapping), "2026-11-23"), NEW_YORK) == [
        "09:15",
        "09:45",
        "10:15",
    ]
    touching = [
        {"days": ["mon"], "start": "09:00", "end": "10:00"},
        {"days": ["mon"], "start": "10:00", "end": "11:00"},
    ]
    assert starts(day_slots(rules(touching, slot_minutes=45), "2026-11-23"), NEW_YORK) == [
        "09:00",
        "09:45",
    ]


def test_hours_may_end_at_24_00() -> None:
    evening = [{"days": ["sun"], "start": "22:00", "end": "24:00"}]
    slots = day_slots(rules(evening), "2026-11-29")
    assert starts(slots, NEW_YORK) == ["22:00", "22:30", "23:00", "23:30"]
    assert local(slots[-1].end, NEW_YORK) == "2026-11-30T00:00-05:00"


def test_nothing_is_offered_in_the_past_or_beyond_the_horizon() -> None:
    setting = rules(SPLIT_DAY, horizon_days=3)
    assert day_slots(setting, "2026-11-20") == []
    assert day_slots(setting, "2026-11-27") == []  # Friday: day 5 after Sunday
    assert day_slots(setting, "2026-11-25") != []


# --- DST days -----------------------------------------------------------------------------------


def test_the_spring_forward_day_in_new_york_has_23_hourly_slots_skipping_2am() -> None:
    slots = day_slots(
        rules(ALL_DAY, slot_minutes=60, min_notice_minutes=0),
        "2026-03-08",
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert starts(slots, NEW_YORK, offsets=True)[:4] == [
        "2026-03-08T00:00-05:00",
        "2026-03-08T01:00-05:00",
        "2026-03-08T03:00-04:00",
        "2026-03-08T04:00-04:00",
    ]
    assert len(slots) == 23
    assert starts(slots, NEW_YORK)[-1] == "23:00"


def test_the_fall_back_day_in_new_york_offers_1am_twice() -> None:
    slots = day_slots(
        rules(ALL_DAY, slot_minutes=60, min_notice_minutes=0),
        "2026-11-01",
        now=datetime(2026, 10, 20, tzinfo=UTC),
    )
    assert starts(slots, NEW_YORK, offsets=True)[:4] == [
        "2026-11-01T00:00-04:00",
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:00-05:00",
        "2026-11-01T02:00-05:00",
    ]
    assert len(slots) == 25


def test_lord_howe_spring_day_continues_the_grid_in_real_time_across_its_half_hour_jump() -> None:
    slots = day_slots(
        rules(ALL_DAY, LORD_HOWE, slot_minutes=60, min_notice_minutes=0),
        "2026-10-04",
        now=datetime(2026, 9, 20, tzinfo=UTC),
    )
    assert starts(slots, LORD_HOWE, offsets=True)[:4] == [
        "2026-10-04T00:00+10:30",
        "2026-10-04T01:00+10:30",
        "2026-10-04T02:30+11:00",
        "2026-10-04T03:30+11:00",
    ]
    # 23.5 real hours hold 23 whole hours; the last one ends 23:30
    assert len(slots) == 23
    assert local(slots[-1].end, LORD_HOWE) == "2026-10-04T23:30+11:00"


def test_lord_howe_autumn_day_repeats_half_an_hour() -> None:
    slots = day_slots(
        rules(ALL_DAY, LORD_HOWE, slot_minutes=60, min_notice_minutes=0),
        "2026-04-05",
        now=datetime(2026, 3, 20, tzinfo=UTC),
    )
    assert starts(slots, LORD_HOWE, offsets=True)[:4] == [
        "2026-04-05T00:00+11:00",
        "2026-04-05T01:00+11:00",
        "2026-04-05T01:30+10:30",
        "2026-04-05T02:30+10:30",
    ]
    assert len(slots) == 24  # 24.5 real hours


def test_hours_that_start_inside_the_gap_open_when_the_clocks_land() -> None:
    early = [{"days": ["sun"], "start": "02:30", "end": "05:00"}]
    slots = day_slots(
        rules(early, min_notice_minutes=0), "2026-03-08", now=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert starts(slots, NEW_YORK, offsets=True) == [
        "2026-03-08T03:00-04:00",
        "2026-03-08T03:30-04:00",
        "2026-03-08T04:00-04:00",
        "2026-03-08T04:30-04:00",
    ]


def test_hours_that_start_inside_the_repeated_hour_are_open_in_both_occurrences() -> None:
    early = [{"days": ["sun"], "start": "01:30", "end": "03:00"}]
    slots = day_slots(
        rules(early, min_notice_minutes=0), "2026-11-01", now=datetime(2026, 10, 20, tzinfo=UTC)
    )
    assert starts(slots, NEW_YORK, offsets=True) == [
        "2026-11-01T01:30-04:00",
        "2026-11-01T01:30-05:00",
        "2026-11-01T02:00-05:00",
        "2026-11-01T02:30-05:00",
    ]


# --- helpers for the runtime ------------------------------------------------------------------


def test_freebusy_range_covers_the_possible_slots_plus_the_buffer() -> None:
    setting = rules(SPLIT_DAY, buffer_minutes=15, horizon_days=2)
    now = datetime(2026, 11, 23, 14, 10, tzinfo=UTC)
    asked = freebusy_range(
        setting, start=now - timedelta(days=1), end=now + timedelta(days=10), now=now
    )
    assert asked == (
        now + timedelta(minutes=60 - 15),  # notice, less the buffer
        setting.horizon_end(now) + timedelta(minutes=15),
    )
    assert freebusy_range(setting, start=now - timedelta(days=2), end=now, now=now) is None


def test_find_slot_and_nearest_serve_the_booking_recheck() -> None:
    slots = day_slots(rules(SPLIT_DAY), "2026-11-23", MEETINGS)
    wanted = datetime.fromisoformat("2026-11-23T10:00").replace(tzinfo=NEW_YORK)
    assert find_slot(slots, wanted) is None  # taken by the first meeting
    assert find_slot(slots, wanted - timedelta(hours=1)) == slots[0]  # 09:00, any zone
    pairs = [(slot.start, slot.end) for slot in slots]
    assert [s.astimezone(NEW_YORK).strftime("%H:%M") for s, _ in nearest(pairs, wanted)] == [
        "09:00",
        "09:30",
        "11:00",
        "11:30",
        "13:00",
    ]
    # 09:30 is 30 minutes away; 09:00 and 11:00 tie at 60, and the earlier one wins
    assert nearest(pairs, wanted, limit=2) == pairs[:2]


# --- validation ---------------------------------------------------------------------------------


def test_working_hours_are_parsed_sorted_and_merged() -> None:
    assert parse_working_hours(
        [
            {"days": ["tue", "mon"], "start": "13:00", "end": "24:00"},
            {"days": ["mon"], "start": "08:00", "end": "13:00"},
        ]
    ) == (WorkingWindow(0, 480, 1440), WorkingWindow(1, 780, 1440))


@pytest.mark.parametrize(
    "entry",
    [
        {"days": ["monday"], "start": "09:00", "end": "18:00"},
        {"days": ["mon"], "start": "9:00", "end": "18:00"},
        {"days": ["mon"], "start": "09:00", "end": "24:30"},
        {"days": ["mon"], "start": "18:00", "end": "09:00"},
        {"days": ["mon"], "start": "09:60", "end": "18:00"},
    ],
)
def test_malformed_working_hours_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each entry has its own message
        parse_working_hours([entry])


def test_intervals_must_be_aware_and_not_empty() -> None:
    at = datetime(2026, 11, 23, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        Interval(at.replace(tzinfo=None), at)
    with pytest.raises(ValueError, match="end after it starts"):
        Interval(at, at)
    # compared as instants: 01:30 EDT to 01:00 EST is half an hour, not minus one
    fold = Interval(
        datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),
        datetime(2026, 11, 1, 1, 0, fold=1, tzinfo=NEW_YORK),
    )
    assert fold.minutes == 30


def test_rules_refuse_a_zero_slot_length() -> None:
    with pytest.raises(ValueError, match="slot_minutes"):
        rules(SPLIT_DAY, slot_minutes=0)
