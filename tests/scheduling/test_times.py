"""Time arguments of tool calls: every accepted form, DST gaps and folds,
past times and minimum notice, and how results write times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcal.scheduling.errors import InvalidDatetime, InvalidTimezone
from agentcal.scheduling.phrases import (
    iso_local,
    iso_utc,
    speakable,
    speakable_span,
    speakable_times,
    utc_offset,
)
from agentcal.scheduling.times import (
    ACCEPTED_FORMS,
    check_range,
    check_start,
    day_end,
    day_start,
    load_zone,
    parse_range,
    parse_start,
    parse_time,
)
from tests.scheduling.support import (
    DST_ZONES,
    LONDON,
    LORD_HOWE,
    NEW_YORK,
    offset,
    transitions,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


# --- the transitions the other tests rely on -------------------------------------------------


HOUR, HALF_HOUR = timedelta(hours=1), timedelta(minutes=30)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # (local date of the change, shift of the clocks)
        (NEW_YORK, [(date(2026, 3, 8), HOUR), (date(2026, 11, 1), -HOUR)]),
        (LONDON, [(date(2026, 3, 29), HOUR), (date(2026, 10, 25), -HOUR)]),
        (LORD_HOWE, [(date(2026, 4, 5), -HALF_HOUR), (date(2026, 10, 4), HALF_HOUR)]),
    ],
    ids=["new_york", "london", "lord_howe"],
)
def test_dst_transitions_of_2026_fall_on_the_dates_the_tests_use(
    tz: ZoneInfo, expected: list[tuple[date, timedelta]]
) -> None:
    found = [(at.astimezone(tz).date(), new - old) for at, old, new in transitions(tz, 2026)]
    assert found == expected


# --- accepted forms ---------------------------------------------------------------------------


def test_a_date_is_the_whole_local_day() -> None:
    parsed = parse_time("2026-11-23", SAO_PAULO)
    assert parsed.form == "date"
    assert parsed.is_date
    assert parsed.at == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 00:00 at UTC-03:00
    assert parsed.local.isoformat() == "2026-11-23T00:00:00-03:00"
    window = parse_range("2026-11-23", None, SAO_PAULO)
    assert (window.start, window.end) == (parsed.at, datetime(2026, 11, 24, 3, tzinfo=UTC))


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (NEW_YORK, "2026-03-08", 23),
        (NEW_YORK, "2026-11-01", 25),
        (LONDON, "2026-03-29", 23),
        (LONDON, "2026-10-25", 25),
        (LORD_HOWE, "2026-10-04", 23.5),
        (LORD_HOWE, "2026-04-05", 24.5),
    ],
)
def test_a_whole_day_on_a_dst_change_lasts_its_real_length(
    tz: ZoneInfo, day: str, hours: float
) -> None:
    window = parse_range(day, None, tz)
    assert (window.end - window.start) == timedelta(hours=hours)
    assert window.start.astimezone(tz).strftime("%Y-%m-%d %H:%M") == f"{day} 00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23T10:00:30", datetime(2026, 11, 23, 13, 0, 30, tzinfo=UTC)),
        ("2026-11-23t10:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23 10:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("  2026-11-23T10:00  ", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
    ],
)
def test_a_local_time_is_read_in_the_time_zone(text: str, expected: datetime) -> None:
    parsed = parse_time(text, SAO_PAULO)
    assert parsed.form == "local"
    assert parsed.at == expected
    assert parsed.at.tzinfo is UTC
    assert parsed.note is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:00:00-03:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23T13:00:00Z", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23t13:00:00z", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23 18:30:00+05:30", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23T13:00:00.250Z", datetime(2026, 11, 23, 13, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-11-23T13:00:00.123456789Z", datetime(2026, 11, 23, 13, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-11-23T10:00-03:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-24T00:00:00+11:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
        ("2026-11-23T13:00:00-00:00", datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),
    ],
)
def test_rfc3339_with_an_offset_fixes_the_instant_whatever_the_zone(
    text: str, expected: datetime
) -> None:
    for tz in (SAO_PAULO, LORD_HOWE):
        parsed = parse_time(text, tz)
        assert parsed.form == "rfc3339"
        assert parsed.at == expected
        assert parsed.local.utcoffset() == expected.astimezone(tz).utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "next Monday at 10",
        "2026/11/23",
        "23-11-2026",
        "2026-11-23T10",
        "2026-11-23T10:00:00.5",  # a fraction needs an offset (RFC 3339)
        "2026-11-23T25:00",
        "2026-11-23T10:60",
        "2026-11-23T10:00:60",
        "2026-02-30",
        "2026-13-01",
        "0999-01-01",
        "3000-01-01T10:00Z",
        "2026-11-23T10:00:00+24:00",
        "2026-11-23T10:00:00+0300",
        "2026-11-23T10:00:00 -03:00",
        "２０２６-１１-２３",  # fullwidth digits
        "1763902800",
    ],
)
def test_anything_else_is_invalid_datetime_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidDatetime) as caught:
        parse_time(text, SAO_PAULO)
    assert caught.value.code == "invalid_datetime"
    assert ACCEPTED_FORMS in caught.value.detail
    assert "America/Sao_Paulo" in caught.value.detail
    assert caught.value.retryable is False


def test_a_start_needs_a_time_of_day() -> None:
    assert parse_start("2026-11-23T10:00", SAO_PAULO).at == datetime(2026, 11, 23, 13, tzinfo=UTC)
    with pytest.raises(InvalidDatetime, match="needs a time of day") as caught:
        parse_start("2026-11-23", SAO_PAULO)
    assert "2026-11-23T10:00" in caught.value.detail


@given(
    instant=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from([*DST_ZONES, SAO_PAULO]),
)
@settings(max_examples=200, deadline=None)
def test_every_instant_written_as_rfc3339_reads_back_as_itself(
    instant: datetime, tz: ZoneInfo
) -> None:
    assert parse_time(iso_local(instant, tz), tz).at == instant
    assert parse_time(iso_utc(instant), tz).at == instant


# --- DST gaps and folds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "text", "nearest"),
    [
        (NEW_YORK, "2026-03-08T02:30", ["2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00"]),
        (NEW_YORK, "2026-03-08T02:00", ["2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00"]),
        (LONDON, "2026-03-29T01:30", ["2026-03-29T00:59:00+00:00", "2026-03-29T02:00:00+01:00"]),
        (LORD_HOWE, "2026-10-04T02:15", ["2026-10-04T01:59:00+10:30", "2026-10-04T02:30:00+11:00"]),
    ],
)
def test_a_local_time_in_a_dst_gap_is_refused_with_the_nearest_valid_times(
    tz: ZoneInfo, text: str, nearest: list[str]
) -> None:
    with pytest.raises(InvalidDatetime) as caught:
        parse_time(text, tz)
    assert caught.value.code == "invalid_datetime"
    assert caught.value.data["nearestValid"] == nearest
    assert "does not exist" in caught.value.detail
    for valid in nearest:
        assert valid in caught.value.detail
        # and each of them is accepted as it is written
        assert iso_local(parse_time(valid, tz).at, tz) == valid


def test_the_minute_before_and_the_minute_after_a_gap_are_accepted() -> None:
    assert parse_time("2026-03-08T01:59", NEW_YORK).at == datetime(2026, 3, 8, 6, 59, tzinfo=UTC)
    assert parse_time("2026-03-08T03:00", NEW_YORK).at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "text", "first", "second"),
    [
        (NEW_YORK, "2026-11-01T01:30", "2026-11-01T05:30:00+00:00", "2026-11-01T01:30:00-05:00"),
        (LONDON, "2026-10-25T01:15", "2026-10-25T00:15:00+00:00", "2026-10-25T01:15:00+00:00"),
        (LORD_HOWE, "2026-04-05T01:45", "2026-04-04T14:45:00+00:00", "2026-04-05T01:45:00+10:30"),
    ],
)
def test_an_ambiguous_local_time_takes_the_first_occurrence_and_says_so(
    tz: ZoneInfo, text: str, first: str, second: str
) -> None:
    parsed = parse_time(text, tz)
    assert parsed.at.isoformat() == first
    assert parsed.note is not None
    assert "happens twice" in parsed.note
    assert "first occurrence" in parsed.note
    assert second in parsed.note
    # the second occurrence, written as the note says, is the later instant
    later = parse_time(second, tz).at
    shift = offset(parsed.at, tz) - offset(later, tz)
    assert later - parsed.at == shift > timedelta(0)


def test_a_range_carries_the_note_of_an_ambiguous_start() -> None:
    window = parse_range("2026-11-01T01:30", None, NEW_YORK)
    assert len(window.notes) == 1
    assert "first occurrence" in window.notes[0]


@given(
    wall=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
    tz=st.sampled_from(DST_ZONES),
)
@settings(max_examples=300, deadline=None)
def test_every_local_time_is_read_as_its_first_occurrence_or_refused_in_a_gap(
    wall: datetime, tz: ZoneInfo
) -> None:
    wall = wall.replace(microsecond=0)
    text = wall.isoformat()
    exists = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
    if not exists:
        with pytest.raises(InvalidDatetime) as caught:
            parse_time(text, tz)
        before, after = (datetime.fromisoformat(v) for v in caught.value.data["nearestValid"])
        # the asked-for wall time lies between them, and only one real minute does
        assert before.replace(tzinfo=None) < wall < after.replace(tzinfo=None)
        assert after - before == timedelta(minutes=1)
        return
    parsed = parse_time(text, tz)
    assert parsed.local.replace(tzinfo=None) == wall
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    assert parsed.at == min(first, second)
    assert (parsed.note is not None) == (first != second)


# --- past times, notice, horizon --------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, 20, tzinfo=UTC)  # Monday 09:00:20 in São Paulo


def test_a_start_in_the_past_is_refused_with_the_earliest_acceptable_time() -> None:
    with pytest.raises(InvalidDatetime, match="is in the past") as caught:
        check_start(NOW - timedelta(hours=1), now=NOW, tz=SAO_PAULO, min_notice_minutes=60)
    # now + 60 min, rounded up to the minute
    assert caught.value.data["earliest"] == "2026-11-23T10:01:00-03:00"
    assert caught.value.data["earliestUtc"] == "2026-11-23T13:01:00Z"
    assert "Monday 23 November 2026, 10:01 (UTC-03:00)" in caught.value.detail


def test_a_start_inside_the_minimum_notice_is_refused_with_the_earliest_acceptable_time() -> None:
    with pytest.raises(InvalidDatetime, match="60 minutes' notice") as caught:
        check_start(NOW + timedelta(minutes=59), now=NOW, tz=SAO_PAULO, min_notice_minutes=60)
    assert caught.value.code == "invalid_datetime"
    assert "Monday 23 November 2026, 10:01 (UTC-03:00)" in caught.value.detail


def test_a_start_at_the_earliest_acceptable_time_is_accepted() -> None:
    earliest = datetime(2026, 11, 23, 13, 1, tzinfo=UTC)
    check_start(earliest, now=NOW, tz=SAO_PAULO, min_notice_minutes=60)
    check_start(NOW, now=NOW, tz=SAO_PAULO, min_notice_minutes=0)


def test_the_notice_is_counted_in_real_time_across_a_fold() -> None:
    now = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first 01:30
    # 60 minutes later is 01:30 EST; a wall-clock sum would say 02:30 EST (07:30Z)
    later = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    check_start(later, now=now, tz=NEW_YORK, min_notice_minutes=60)
    with pytest.raises(InvalidDatetime) as caught:
        check_start(later - timedelta(minutes=1), now=now, tz=NEW_YORK, min_notice_minutes=60)
    assert caught.value.data["earliest"] == "2026-11-01T01:30:00-05:00"


def test_a_start_beyond_the_horizon_is_refused() -> None:
    horizon = datetime(2026, 12, 1, 3, tzinfo=UTC)
    with pytest.raises(InvalidDatetime, match="too far ahead") as caught:
        check_start(horizon, now=NOW, tz=SAO_PAULO, min_notice_minutes=60, horizon_end=horizon)
    assert caught.value.data["horizonEnd"] == "2026-12-01T00:00:00-03:00"
    check_start(
        horizon - timedelta(minutes=30),
        now=NOW,
        tz=SAO_PAULO,
        min_notice_minutes=60,
        horizon_end=horizon,
    )


def test_a_range_entirely_in_the_past_is_refused_but_one_under_way_is_not() -> None:
    with pytest.raises(InvalidDatetime, match="ended before now"):
        check_range(parse_range("2026-11-22", None, SAO_PAULO), now=NOW, tz=SAO_PAULO)
    check_range(parse_range("2026-11-23", None, SAO_PAULO), now=NOW, tz=SAO_PAULO)


# --- ranges -----------------------------------------------------------------------------------


def test_an_end_date_includes_that_whole_day() -> None:
    window = parse_range("2026-11-23", "2026-11-25", SAO_PAULO)
    assert window.start == datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 26, 3, tzinfo=UTC)


def test_without_an_end_a_time_range_runs_to_the_same_local_time_next_day() -> None:
    window = parse_range("2026-03-07T10:00", None, NEW_YORK)
    assert window.end - window.start == timedelta(hours=23)  # across the spring change
    assert window.end.astimezone(NEW_YORK).strftime("%d %H:%M") == "08 10:00"


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(InvalidDatetime, match="must be after startDate"):
        parse_range("2026-11-23T10:00", "2026-11-23T09:00", SAO_PAULO)


def test_a_range_may_span_31_local_days_and_no_more() -> None:
    assert parse_range("2026-03-01", "2026-03-31", NEW_YORK).end == day_start(
        date(2026, 4, 1), NEW_YORK
    )
    with pytest.raises(InvalidDatetime, match="at most 31 days") as caught:
        parse_range("2026-03-01", "2026-04-01", NEW_YORK)
    assert caught.value.data["latestEnd"] == "2026-04-01T00:00:00-04:00"


# --- zones ------------------------------------------------------------------------------------


def test_a_time_zone_is_loaded_by_its_iana_name() -> None:
    assert load_zone(" Australia/Lord_Howe ") == LORD_HOWE


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "utc"])
def test_an_unknown_time_zone_is_invalid_timezone(name: str) -> None:
    with pytest.raises(InvalidTimezone) as caught:
        load_zone(name)
    assert caught.value.code == "invalid_timezone"
    assert "America/Sao_Paulo" in caught.value.detail


# --- writing times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        ("2026-11-23T13:00Z", SAO_PAULO, "Monday 23 November 2026, 10:00 (UTC-03:00)"),
        ("2026-11-23T13:00Z", LORD_HOWE, "Tuesday 24 November 2026, 00:00 (UTC+11:00)"),
        ("2026-06-01T13:00Z", LORD_HOWE, "Monday 1 June 2026, 23:30 (UTC+10:30)"),
        ("2026-01-04T09:05:30Z", LONDON, "Sunday 4 January 2026, 09:05:30 (UTC+00:00)"),
        ("2026-11-01T06:30Z", NEW_YORK, "Sunday 1 November 2026, 01:30 (UTC-05:00)"),
    ],
)
def test_speakable_gives_weekday_date_local_time_and_utc_offset(
    instant: str, tz: ZoneInfo, expected: str
) -> None:
    assert speakable(datetime.fromisoformat(instant), tz) == expected


def test_speakable_span_is_short_within_a_day_and_full_across_a_dst_change() -> None:
    start = datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert speakable_span(start, start + timedelta(minutes=30), SAO_PAULO) == (
        "Monday 23 November 2026, 10:00 to 10:30 (UTC-03:00)"
    )
    fold = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert speakable_span(fold, fold + timedelta(hours=1), NEW_YORK) == (
        "Sunday 1 November 2026, 01:30 (UTC-04:00) to Sunday 1 November 2026, 01:30 (UTC-05:00)"
    )


def test_speakable_times_groups_by_day_and_offset_and_counts_the_rest() -> None:
    starts = [datetime(2026, 11, 1, 4, 0, tzinfo=UTC) + timedelta(hours=h) for h in range(4)]
    starts.append(datetime(2026, 11, 2, 15, tzinfo=UTC))
    text = speakable_times(reversed(starts), NEW_YORK, limit=4)
    assert text == (
        "Sunday 1 November 2026 (UTC-04:00): 00:00, 01:00; "
        "Sunday 1 November 2026 (UTC-05:00): 01:00, 02:00; and 1 more"
    )


def test_iso_helpers_give_the_local_offset_and_utc_z() -> None:
    instant = datetime(2026, 10, 3, 15, 30, tzinfo=UTC)  # Lord Howe's clocks jump then
    assert iso_local(instant, LORD_HOWE) == "2026-10-04T02:30:00+11:00"
    assert iso_local(instant - timedelta(seconds=1), LORD_HOWE) == "2026-10-04T01:59:59+10:30"
    assert iso_utc(instant.astimezone(LORD_HOWE)) == "2026-10-03T15:30:00Z"
    assert utc_offset(instant, LORD_HOWE) == "UTC+11:00"


def test_day_start_and_end_bound_the_local_day() -> None:
    assert day_start(date(2026, 10, 4), LORD_HOWE) == datetime(2026, 10, 3, 13, 30, tzinfo=UTC)
    assert day_end(date(2026, 10, 4), LORD_HOWE) == datetime(2026, 10, 4, 13, 0, tzinfo=UTC)
