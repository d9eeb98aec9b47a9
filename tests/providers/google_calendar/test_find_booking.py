"""Finding a caller's Google Calendar bookings, and cancelling or moving one by phone (or
e-mail) and start, end to end: API → runtime → Google sandbox, and the bookings index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.providers.google_calendar.client import GoogleCalendarClient
from tests.bookings.support import (
    PHONE,
    SPELLINGS,
    at,
    book,
    call,
    found,
    index_rows,
    local,
    when,
)
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.providers.google_calendar.support import Account, google_client, meeting
from tests.support import next_monday


@dataclass(frozen=True)
class Calendar:
    bot_id: str
    account: Account
    names: dict[str, str]  # action → tool name


async def _calendar(tenant: Tenant, sandbox: SandboxServer) -> Calendar:
    """A Google Calendar function "Dr Ana" on a fresh sandbox account, on a new bot."""
    bot_id = await make_bot(tenant)
    account, _ = await link_google_function(tenant, sandbox, bot_id)
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    names = {
        t["function"]["name"].removesuffix("_dr_ana"): t["function"]["name"]
        for t in tools.json()["tools"]
    }
    assert "find_booking" in names
    return Calendar(bot_id, account, names)


def _event(sandbox: SandboxServer, calendar: Calendar, event_id: str) -> dict[str, Any]:
    event: dict[str, Any] = sandbox.google.calendars[calendar.account.email].events[event_id]
    return event


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    """A client reaching the sandbox directly, as anyone else using the calendar would."""
    client = google_client(sandbox)
    yield client
    await client.aclose()


async def test_a_booking_made_with_a_phone_is_found_by_any_spelling_of_it_and_by_email(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox)
    event_id = await book(tenant, calendar, "10:00", attendeePhone="(11) 98765-4321")
    await book(tenant, calendar, "11:00", "jo@example.com", attendeePhone="+5511912345678")
    assert f"Phone: {PHONE}" in _event(sandbox, calendar, event_id)["description"]

    for spelling in SPELLINGS:
        result = await call(tenant, calendar, "find_booking", attendeePhone=spelling)
        assert found(result) == [(event_id, local("10:00"))], spelling
        (booking,) = result["data"]["bookings"]
        assert booking["startUtc"] == f"{next_monday().isoformat()}T13:00:00Z"
        assert booking["title"] == "Dr Ana with Maria Silva"
        assert "10:00" in result["content"]
        assert event_id in result["content"]
    by_email = await call(tenant, calendar, "find_booking", attendeeEmail="Maria@Example.com")
    assert found(by_email) == [(event_id, local("10:00"))]


async def test_a_phone_finds_only_its_own_number_not_a_longer_one_that_starts_with_it(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox)
    short, longer = "+4930123456", "+49301234567"  # both valid Berlin numbers
    mine = await book(tenant, calendar, "10:00", attendeePhone=short)
    theirs = await book(tenant, calendar, "11:00", "jo@example.com", attendeePhone=longer)
    # Google's free-text search finds both events by the shorter number.
    assert short in _event(sandbox, calendar, theirs)["description"]

    assert found(await call(tenant, calendar, "find_booking", attendeePhone=short)) == [
        (mine, local("10:00"))
    ]
    assert found(await call(tenant, calendar, "find_booking", attendeePhone=longer)) == [
        (theirs, local("11:00"))
    ]
    refused = await call(tenant, calendar, "cancel_booking", attendeePhone=short, start=at("11:00"))
    assert refused["error"]["code"] == "booking_not_found"
    assert _event(sandbox, calendar, theirs)["status"] == "confirmed"


async def test_cancel_by_phone_and_start_then_the_caller_has_no_bookings(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    event_id = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    elsewhere = await call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=at("10:30")
    )
    assert elsewhere["error"]["code"] == "booking_not_found"
    assert "That day their bookings start at" in elsewhere["content"]

    cancelled = await call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=at("10:00")
    )
    assert cancelled["ok"] is True, cancelled
    assert cancelled["data"]["bookingId"] == event_id
    assert _event(sandbox, calendar, event_id)["status"] == "cancelled"
    assert [(r.provider_booking_id, r.status) for r in await index_rows(engine)] == [
        (event_id, "cancelled")
    ]
    none = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(none) == []
    assert "no upcoming bookings" in none["content"]


async def test_reschedule_by_phone_and_start_then_find_shows_the_new_time(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    event_id = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    moved = await call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeePhone="+55 11 98765-4321",
        start=at("10:00"),
        newStart=at("14:00"),
    )
    assert moved["ok"] is True, moved
    assert moved["data"]["bookingId"] == event_id
    (row,) = await index_rows(engine)
    assert (row.provider_booking_id, row.status) == (event_id, "booked")
    assert row.start_at == when("14:00")

    listed = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert found(listed) == [(event_id, local("14:00"))]
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
    assert found(again) == [(event_id, local("15:00"))]


async def test_events_made_in_google_itself_are_found_by_email_and_by_the_phone_written(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    calendar = await _calendar(tenant, sandbox)
    ours = await book(tenant, calendar, "09:00", "lia@example.com")
    token, calendar_id = calendar.account.access_token, calendar.account.email
    invited = await google.insert_event(
        token,
        calendar_id,
        meeting(when("15:00"), attendees=[{"email": "Lia@Example.com", "display_name": "Lia"}]),
    )
    phoned = await google.insert_event(
        token, calendar_id, meeting(when("16:00"), description=f"Call first. Phone: {PHONE}")
    )
    by_email = await call(tenant, calendar, "find_booking", attendeeEmail="lia@example.com")
    assert found(by_email) == [(ours, local("09:00")), (invited.id, local("15:00"))]
    by_phone = await call(tenant, calendar, "find_booking", attendeePhone="(11) 98765-4321")
    assert found(by_phone) == [(phoned.id, local("16:00"))]


async def test_at_most_five_soonest_first_and_none_deleted_elsewhere(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    times = ["16:00", "09:00", "13:00", "10:00", "15:00", "11:00", "14:00"]
    ids = {t: await book(tenant, calendar, t, attendeePhone=PHONE) for t in times}
    # Deleted in Google Calendar, out of agentcal's sight: the index still says booked.
    await google.delete_event(calendar.account.access_token, calendar.account.email, ids["09:00"])

    listed = await call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    soonest = ["10:00", "11:00", "13:00", "14:00", "15:00"]
    assert found(listed) == [(ids[t], local(t)) for t in soonest]
    status = {r.provider_booking_id: r.status for r in await index_rows(engine)}
    assert status[ids["09:00"]] == "cancelled"  # what the search learned, kept


async def test_two_bookings_of_the_caller_at_one_time_are_ambiguous(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    calendar = await _calendar(tenant, sandbox)
    ours = await book(tenant, calendar, "10:00", attendeePhone=PHONE)
    # Google stores overlapping events; this one names the caller only by phone.
    theirs = await google.insert_event(
        calendar.account.access_token,
        calendar.account.email,
        meeting(when("10:00"), attendees=[], description=f"Phone: {PHONE}"),
    )
    result = await call(tenant, calendar, "cancel_booking", attendeePhone=PHONE, start=at("10:00"))
    assert result["error"]["code"] == "ambiguous_booking"
    assert {b["bookingId"] for b in result["data"]["bookings"]} == {ours, theirs.id}
    assert _event(sandbox, calendar, ours)["status"] == "confirmed"


async def test_another_functions_bookings_are_never_shown(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    mine = await _calendar(tenant, sandbox)
    other = await _calendar(tenant, sandbox)
    event_id = await book(tenant, mine, "10:00", attendeePhone=PHONE)
    not_mine = await book(tenant, other, "11:00", attendeePhone=PHONE)

    for arguments in ({"attendeePhone": PHONE}, {"attendeeEmail": "maria@example.com"}):
        assert found(await call(tenant, mine, "find_booking", **arguments)) == [
            (event_id, local("10:00"))
        ]
        assert found(await call(tenant, other, "find_booking", **arguments)) == [
            (not_mine, local("11:00"))
        ]
    refused = await call(tenant, mine, "cancel_booking", attendeePhone=PHONE, start=at("11:00"))
    assert refused["error"]["code"] == "booking_not_found"
    assert _event(sandbox, other, not_mine)["status"] == "confirmed"


async def test_find_refuses_an_email_that_is_no_address(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox)
    result = await call(tenant, calendar, "find_booking", attendeeEmail="Maria Silva")
    assert result["error"]["code"] == "invalid_arguments"
    assert "not an e-mail address" in result["content"]
