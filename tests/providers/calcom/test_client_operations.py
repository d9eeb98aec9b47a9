"""Every Cal.com client operation against the stateful sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentcal.providers.calcom.client import CalcomClient
from agentcal.providers.calcom.errors import CalcomNotFound, CalcomSlotUnavailable
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_TIMEZONE, DEMO_USERNAME
from tests.conftest import SandboxServer
from tests.support import next_monday

SAO_PAULO = ZoneInfo(DEMO_TIMEZONE)


@pytest.fixture
async def calcom(sandbox: SandboxServer) -> AsyncIterator[CalcomClient]:
    client = CalcomClient(f"{sandbox.url}/calcom")
    yield client
    await client.aclose()


async def _thirty_minute_id(calcom: CalcomClient) -> int:
    types = await calcom.event_types(DEMO_API_KEY, DEMO_USERNAME)
    return next(t.id for t in types if t.slug == "30min")


async def test_me_names_the_keys_owner_and_timezone(calcom: CalcomClient) -> None:
    me = await calcom.me(DEMO_API_KEY)
    assert me.username == DEMO_USERNAME
    assert me.time_zone == DEMO_TIMEZONE


async def test_slots_fill_working_hours_of_a_weekday_and_skip_the_weekend(
    calcom: CalcomClient,
) -> None:
    monday = next_monday()
    slots = await calcom.slots(
        DEMO_API_KEY,
        start=monday - timedelta(days=2),
        end=monday + timedelta(days=1),
        time_zone=DEMO_TIMEZONE,
        event_type_id=await _thirty_minute_id(calcom),
    )
    local = [s.start.astimezone(SAO_PAULO) for s in slots]
    assert {d.date() for d in local} == {monday}  # Saturday and Sunday have none
    assert len(slots) == 18  # 09:00 to 17:30, every 30 minutes
    assert local[0].hour == 9
    assert local[0].minute == 0
    assert all(s.end is not None and s.end - s.start == timedelta(minutes=30) for s in slots)


async def test_a_booking_takes_its_slot_away(calcom: CalcomClient, sandbox: SandboxServer) -> None:
    monday = next_monday()
    event_type_id = await _thirty_minute_id(calcom)
    start = datetime(monday.year, monday.month, monday.day, 10, 0, tzinfo=SAO_PAULO)
    booking = await calcom.create_booking(
        DEMO_API_KEY,
        start=start,
        attendee_name="Maria Silva",
        attendee_email="maria@example.com",
        attendee_time_zone="America/Sao_Paulo",
        attendee_phone="+5511999990000",
        event_type_id=event_type_id,
        notes="First consultation",
    )
    assert booking.status == "accepted"
    assert booking.start == start
    assert booking.end - booking.start == timedelta(minutes=30)
    assert booking.attendees[0].email == "maria@example.com"
    assert booking.attendees[0].phone_number == "+5511999990000"
    assert sandbox.calcom.bookings[booking.uid].notes == "First consultation"

    slots = await calcom.slots(
        DEMO_API_KEY,
        start=monday,
        end=monday + timedelta(days=1),
        time_zone=DEMO_TIMEZONE,
        event_type_id=event_type_id,
    )
    assert start not in [s.start for s in slots]
    assert len(slots) == 17


async def test_booking_a_taken_slot_is_slot_unavailable(calcom: CalcomClient) -> None:
    monday = next_monday()
    start = datetime(monday.year, monday.month, monday.day, 11, 0, tzinfo=SAO_PAULO)
    kwargs = dict(
        attendee_email="a@example.com",
        attendee_time_zone="UTC",
        event_type_slug="30min",
        username=DEMO_USERNAME,
    )
    await calcom.create_booking(DEMO_API_KEY, start=start, attendee_name="A", **kwargs)
    with pytest.raises(CalcomSlotUnavailable) as raised:
        await calcom.create_booking(DEMO_API_KEY, start=start, attendee_name="B", **kwargs)
    assert raised.value.code == "slot_unavailable"


async def test_booking_outside_working_hours_is_slot_unavailable(calcom: CalcomClient) -> None:
    monday = next_monday()
    night = datetime(monday.year, monday.month, monday.day, 22, 0, tzinfo=SAO_PAULO)
    with pytest.raises(CalcomSlotUnavailable):
        await calcom.create_booking(
            DEMO_API_KEY,
            start=night,
            attendee_name="Night Owl",
            attendee_email="o@example.com",
            attendee_time_zone="UTC",
            event_type_id=await _thirty_minute_id(calcom),
        )


async def test_get_cancel_and_cancel_again(calcom: CalcomClient) -> None:
    monday = next_monday()
    start = datetime(monday.year, monday.month, monday.day, 14, 0, tzinfo=SAO_PAULO)
    booking = await calcom.create_booking(
        DEMO_API_KEY,
        start=start,
        attendee_name="Ana",
        attendee_email="ana@example.com",
        attendee_time_zone="UTC",
        event_type_id=await _thirty_minute_id(calcom),
    )
    fetched = await calcom.get_booking(DEMO_API_KEY, booking.uid)
    assert fetched.uid == booking.uid
    cancelled = await calcom.cancel_booking(DEMO_API_KEY, booking.uid, "patient is ill")
    assert cancelled.status == "cancelled"
    assert cancelled.cancellation_reason == "patient is ill"
    # A repeat (as after a lost answer) finds it cancelled and returns it: idempotent.
    again = await calcom.cancel_booking(DEMO_API_KEY, booking.uid, "patient is ill")
    assert again.status == "cancelled"


async def test_reschedule_moves_the_booking_to_a_new_uid(
    calcom: CalcomClient, sandbox: SandboxServer
) -> None:
    monday = next_monday()
    first = datetime(monday.year, monday.month, monday.day, 15, 0, tzinfo=SAO_PAULO)
    booking = await calcom.create_booking(
        DEMO_API_KEY,
        start=first,
        attendee_name="Joao",
        attendee_email="joao@example.com",
        attendee_time_zone="UTC",
        event_type_id=await _thirty_minute_id(calcom),
    )
    later = first + timedelta(hours=1)
    moved = await calcom.reschedule_booking(DEMO_API_KEY, booking.uid, later, "conflict")
    assert moved.uid != booking.uid
    assert moved.start == later
    assert moved.rescheduled_from_uid == booking.uid
    old = sandbox.calcom.bookings[booking.uid]
    assert old.status == "cancelled"
    assert old.rescheduled_to_uid == moved.uid


async def test_an_unknown_booking_is_not_found(calcom: CalcomClient) -> None:
    with pytest.raises(CalcomNotFound):
        await calcom.get_booking(DEMO_API_KEY, "no-such-uid")


async def test_past_slots_are_never_offered(calcom: CalcomClient) -> None:
    now = datetime.now(UTC)
    slots = await calcom.slots(
        DEMO_API_KEY,
        start=now - timedelta(days=3),
        end=now + timedelta(days=1),
        time_zone="UTC",
        event_type_id=await _thirty_minute_id(calcom),
    )
    assert all(s.start > now for s in slots)
