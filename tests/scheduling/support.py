"""Helpers for the scheduling tests, written independently of the code under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
DST_ZONES = (NEW_YORK, LONDON, LORD_HOWE)


def offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    value = instant.astimezone(tz).utcoffset()
    assert value is not None
    return value


@cache
def transitions(tz: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """Every offset change of `tz` in `year`: (instant in UTC, offset before, offset after).

    Scans in 15-minute steps (every zone changes on a quarter hour), so it finds the
    instant exactly without trusting anything but zoneinfo's utcoffset.
    """
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    before = offset(t, tz)
    while t.year == year:
        t += timedelta(minutes=15)
        after = offset(t, tz)
        if after != before:
            found.append((t, before, after))
            before = after
    return found


def local(instant: datetime, tz: ZoneInfo) -> str:
    """`2026-03-08T03:00-04:00`: a compact local reading for readable assertions."""
    return instant.astimezone(tz).isoformat(timespec="minutes")
