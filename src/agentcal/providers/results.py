"""What every provider's results say: free times, taken slots and bookings, for a listener.

Sentences are short and speakable (a voice agent reads them out): times in the caller's
zone with the zone named, at most 12 of them, the rest counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agentcal.providers.base import MAX_CONTENT, SlotUnavailable, ToolSpec
from agentcal.scheduling.times import (
    iso_local,
    iso_utc,
    load_zone,
    speakable,
    speakable_span,
    speakable_times,
    zone_name,
)

MAX_SPOKEN_SLOTS = 12  # a listener remembers no more
MAX_ALTERNATIVES = 5  # free times offered instead of a taken one


def now() -> datetime:
    return datetime.now(UTC)


def zone(spec: ToolSpec, time_zone: str | None) -> ZoneInfo:
    """The caller's `timeZone`, else the function's."""
    return load_zone(time_zone or spec.timezone)


def slot_data(start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, str]:
    return {
        "start": iso_local(start, tz),
        "end": iso_local(end, tz),
        "startUtc": iso_utc(start),
        "endUtc": iso_utc(end),
    }


def slots_content(
    owner: str,
    slots: list[tuple[datetime, datetime]],
    tz: ZoneInfo,
    first: datetime,
    last: datetime,
    minutes: int,
) -> str:
    """A short, speakable list: at most 12 times, in the caller's zone, with offsets."""
    if not slots:
        return (
            f"No free {minutes}-minute times for {owner} between {speakable(first, tz)} "
            f"and {speakable(last, tz)} ({zone_name(tz)})."
        )
    head = f"Free {minutes}-minute times for {owner} ({zone_name(tz)}): "
    starts = [s for s, _ in slots]
    # List as many as fit in a result's 600 characters (at most 12); the rest are
    # counted ("and N more"), never cut off mid-list.
    for limit in range(MAX_SPOKEN_SLOTS, 0, -1):
        text = f"{head}{speakable_times(starts, tz, limit=limit)}."
        if len(text) <= MAX_CONTENT:
            return text
    return text


def nearest(
    slots: list[tuple[datetime, datetime]], target: datetime, limit: int = MAX_ALTERNATIVES
) -> list[tuple[datetime, datetime]]:
    """The free slots closest to `target`, in time order."""
    closest = sorted(slots, key=lambda s: (abs(s[0] - target), s[0]))[:limit]
    return sorted(closest)


def unavailable(
    target: datetime, tz: ZoneInfo, alternatives: list[tuple[datetime, datetime]]
) -> SlotUnavailable:
    """`slot_unavailable` with the nearest free slots, said and in `data.alternatives`."""
    said = speakable(target, tz)
    if alternatives:
        options = speakable_times([s for s, _ in alternatives], tz, limit=MAX_ALTERNATIVES)
        message = f"{said} is not free. The nearest free times are {options}."
    else:
        message = f"{said} is not free, and there are no free times near it."
    return SlotUnavailable(
        message,
        data={"alternatives": [slot_data(s, e, tz) for s, e in alternatives]},
    )


def booked_content(
    title: str, name: str, start: datetime, end: datetime, tz: ZoneInfo, booking_id: str
) -> str:
    return (
        f"Booked {title} with {name} on {speakable_span(start, end, tz)}. Booking id: {booking_id}."
    )
