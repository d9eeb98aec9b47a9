"""Finding a caller's Cal.com bookings, and cancelling or moving one by phone (or e-mail)
and start, end to end: API → runtime → Cal.com sandbox, and the bookings index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.providers.calcom.client import CalcomClient
from tests.bookings.support import (
    PHONE,
    SPELLINGS,
    at,
    book,
    call,
    found,
    index_rows,
    local,
)
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom_user, calcom_user
from tests.support import next_monday


@dataclass(frozen=True)
class Calendar:
    bot_id: str
    names: dict[str, str]  # action → tool name
    user: dict[str, Any]  # the sandbox user: apiKey, username, eventTypes


async def _calendar(
    tenant: Tenant, sandbox: SandboxServer, *, requires_confirmation: bool = False
) -> Calendar:
    """A fresh Cal.com user with a 30-minute event type (whose bookings wait for the
    host's confirmation, if asked), its integration on a new bot."""
    user = await calcom_user(sandbox, [("30min", 30)], requires_confirmation=requires_confirmation)
    bot_id, _, names = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
    assert "find_booking" in names
    return Calendar(bot_id, names, user)


@pytest.fixture
async def calcom(sandbox: SandboxServer) -> AsyncIterator[CalcomClient]:
    """A client reaching the sandbox directly, as anyone else booking in Cal.com would."""
    client = CalcomClient(f"{sandbox.url}/calcom")
    yield client
    await client.aclose()


async def test_a_booking_made_with_a_phone_is_found_by_any_spelling_of_it_and_by_email(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox)
    uid = await book(tenant, calendar, "10:00", attendeePhone="(11) 98765-4321")
    await book(tenant, calendar, "11:00", "jo@example.com", attendeePhone="+5511912345678")
    assert sandbox.calcom.bookings[uid].attendee["phoneNumber"] == PHONE  # sent as E.164

    for spelling in SPELLINGS:
        result = await call(tenant, calendar, "find_booking", attendeePhone=spelling)
        assert found(result) == [(uid, local("10:00"))], spelling
        (booking,) = result["data"]["bookings"]
        assert booking["startUtc"] == f"{next_monday().isoformat()}T13:00:00Z"
        assert booking["title"] == "30 min meeting with Maria Silva"
        assert result["data"]["timeZone"] == "America/Sao_Paulo"
        assert "10:00" in result["content"]
        assert uid in result["content"]
    by_email = await call(tenant, calendar, "find_booking", attendeeEmail="Maria@Example.com")
    assert found(by_email) == [(uid, local("10:00"))]


async def test_cancel_by_phone_and_start_then_the_caller_has_no_bookings(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    uid = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    elsewhere = await call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=at("10:30")
    )
    assert elsewhere["error"]["code"] == "booking_not_found"
    assert sandbox.calcom.bookings[uid].status == "accepted"

    cancelled = await call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=at("10:00")
    )
    assert cancelled["ok"] is True, cancelled
    assert cancelled["data"]["bookingId"] == uid
    assert sandbox.calcom.bookings[uid].status == "cancelled"
    assert [(r.provider_booking_id, r.status) for r in await index_rows(engine)] == [
        (uid, "cancelled")
    ]
    none = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(none) == []
    assert "no upcoming bookings" in none["content"]


async def test_reschedule_by_phone_and_start_then_find_shows_the_new_time(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    old = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    moved = await call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeePhone="+55 11 98765-4321",
        start=at("10:00"),
        newStart=at("14:00"),
    )
    assert moved["ok"] is True, moved
    new = moved["data"]["bookingId"]
    assert new != old  # Cal.com makes a new booking of a moved one
    assert sandbox.calcom.bookings[old].status == "cancelled"
    (row,) = await index_rows(engine)
    assert (row.provider_booking_id, row.status) == (new, "booked")
    assert row.start_at == datetime.fromisoformat(local("14:00"))

    listed = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(listed) == [(new, local("14:00"))]
    by_email = await call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeeEmail="maria@example.com",
        start=at("14:00"),
        newStart=at("15:00"),
    )
    assert by_email["ok"] is True, by_email
    again = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(again) == [(by_email["data"]["bookingId"], local("15:00"))]


async def test_a_booking_waiting_for_the_hosts_confirmation_is_found_moved_and_cancelled(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox, requires_confirmation=True)
    uid = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    assert sandbox.calcom.bookings[uid].status == "pending"
    listed = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(listed) == [(uid, local("10:00"))]

    moved = await call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeePhone=PHONE,
        start=at("10:00"),
        newStart=at("14:00"),
    )
    assert moved["ok"] is True, moved
    new = moved["data"]["bookingId"]
    assert sandbox.calcom.bookings[new].status == "pending"  # still the host's to confirm
    cancelled = await call(
        tenant, calendar, "cancel_booking", attendeePhone=PHONE, start=at("14:00")
    )
    assert cancelled["ok"] is True, cancelled
    assert sandbox.calcom.bookings[new].status == "cancelled"
    assert found(await call(tenant, calendar, "find_booking", attendeePhone=PHONE)) == []


async def test_a_booking_made_in_calcom_itself_is_found_by_email(
    tenant: Tenant, sandbox: SandboxServer, calcom: CalcomClient
) -> None:
    calendar = await _calendar(tenant, sandbox)
    ours = await book(tenant, calendar, "09:00", "lia@example.com")
    theirs = await calcom.create_booking(
        calendar.user["apiKey"],
        start=datetime.fromisoformat(local("15:00")),
        attendee_name="Lia",
        attendee_email="lia@example.com",
        attendee_time_zone="America/Sao_Paulo",
        event_type_id=calendar.user["eventTypes"][0]["id"],
    )
    listed = await call(tenant, calendar, "find_booking", attendeeEmail="lia@example.com")
    assert found(listed) == [(ours, local("09:00")), (theirs.uid, local("15:00"))]


async def test_at_most_five_soonest_first_and_none_cancelled_elsewhere(
    tenant: Tenant, sandbox: SandboxServer, calcom: CalcomClient, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    times = ["16:00", "09:00", "13:00", "10:00", "15:00", "11:00", "14:00"]
    uids = {t: await book(tenant, calendar, t, attendeePhone=PHONE) for t in times}
    # Cancelled in Cal.com, out of agentcal's sight: the index still says booked.
    await calcom.cancel_booking(calendar.user["apiKey"], uids["09:00"])

    listed = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    soonest = ["10:00", "11:00", "13:00", "14:00", "15:00"]
    assert found(listed) == [(uids[t], local(t)) for t in soonest]
    status = {r.provider_booking_id: r.status for r in await index_rows(engine)}
    assert status[uids["09:00"]] == "cancelled"  # what the search learned, kept


async def test_another_functions_bookings_are_never_shown(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    mine = await _calendar(tenant, sandbox)
    other = await _calendar(tenant, sandbox)
    uid = await book(tenant, mine, "10:00", attendeePhone=PHONE)
    not_mine = await book(tenant, other, "11:00", attendeePhone=PHONE)

    for arguments in ({"attendeePhone": PHONE}, {"attendeeEmail": "maria@example.com"}):
        assert found(await call(tenant, mine, "find_booking", **arguments)) == [
            (uid, local("10:00"))
        ]
        assert found(await call(tenant, other, "find_booking", **arguments)) == [
            (not_mine, local("11:00"))
        ]
    refused = await call(tenant, mine, "cancel_booking", attendeePhone=PHONE, start=at("11:00"))
    assert refused["error"]["code"] == "booking_not_found"
    assert sandbox.calcom.bookings[not_mine].status == "accepted"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({}, "attendeePhone or attendeeEmail"),
        ({"attendeePhone": "12345"}, "not a phone number"),
    ],
)
async def test_find_needs_a_phone_number_or_an_email(
    tenant: Tenant, sandbox: SandboxServer, arguments: dict[str, Any], said: str
) -> None:
    calendar = await _calendar(tenant, sandbox)
    result = await call(tenant, calendar, "find_booking", **arguments)
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_arguments"
    assert said in result["content"]
