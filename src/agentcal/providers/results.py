"""What every provider's results say: free times, taken slots and bookings, for a listener.

Sentences are short, in the bot's language, and speakable: times in the caller's zone
with the zone named, at most 12 of them, the rest counted. On a voice channel they are
written to be heard: at most 4 times offered, grouped by day, no offsets (the zone is
named once for the whole result). `data` is the same whatever the language or channel.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agentcal.providers.base import MAX_CONTENT, SlotUnavailable, ToolSpec
from agentcal.scheduling import speech
from agentcal.scheduling.phrases import (
    MAX_HEARD_OPTIONS,
    iso_local,
    iso_utc,
    speakable,
    speakable_span,
    speakable_times,
    zone_name,
)
from agentcal.scheduling.speech import say
from agentcal.scheduling.times import load_zone

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
    """A short, speakable list: at most 12 times (4 to be heard), in the caller's zone,
    with offsets (to be read)."""
    heard = speech.current().voice
    if not slots:
        if heard:  # the zone is named once, at the end of the result
            return say(
                "No free {minutes}-minute times for {owner} between {first} and {last}.",
                minutes=minutes,
                owner=owner,
                first=speakable(first, tz),
                last=speakable(last, tz),
            )
        return say(
            "No free {minutes}-minute times for {owner} between {first} and {last} ({zone}).",
            minutes=minutes,
            owner=owner,
            first=speakable(first, tz),
            last=speakable(last, tz),
            zone=zone_name(tz),
        )
    starts = [s for s, _ in slots]
    # List as many as fit in a result's 600 characters (at most 12); the rest are
    # counted ("and N more"), never cut off mid-list.
    for limit in range(MAX_SPOKEN_SLOTS, 0, -1):
        times = speakable_times(starts, tz, limit=limit)
        if heard:
            text = say(
                "Free {minutes}-minute times for {owner}: {times}.",
                minutes=minutes,
                owner=owner,
                times=times,
            )
        else:
            text = say(
                "Free {minutes}-minute times for {owner} ({zone}): {times}.",
                minutes=minutes,
                owner=owner,
                zone=zone_name(tz),
                times=times,
            )
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
        message = say(
            "{time} is not free. The nearest free times are {options}.",
            time=said,
            options=nearest_said(alternatives, target, tz),
        )
    else:
        message = say("{time} is not free, and there are no free times near it.", time=said)
    return SlotUnavailable(
        message,
        data={"alternatives": [slot_data(s, e, tz) for s, e in alternatives]},
    )


def nearest_said(
    alternatives: list[tuple[datetime, datetime]], target: datetime, tz: ZoneInfo
) -> str:
    """The free times offered instead of `target`: all of them to be read, the nearest
    few to be heard."""
    limit = MAX_HEARD_OPTIONS if speech.current().voice else MAX_ALTERNATIVES
    starts = [s for s, _ in nearest(alternatives, target, limit)]
    return speakable_times(starts, tz, limit=limit)


def booked_content(
    title: str, name: str, start: datetime, end: datetime, tz: ZoneInfo, booking_id: str
) -> str:
    return say(
        "Booked {title} with {name} on {span}. Booking id: {booking_id}.",
        title=title,
        name=name,
        span=speakable_span(start, end, tz),
        booking_id=booking_id,
    )
