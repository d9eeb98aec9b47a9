"""Finding a caller's Google Calendar bookings, and cancelling or moving one by phone (or
e-mail) and start, end to end: API → runtime → Google sandbox, and the bookings index."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.providers.google_calendar.client import GoogleCalendarClient
from tests.bookings.support import index_rows
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.providers.google_calendar.support import Account, google_client, meeting
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
PHONE = "+5511987654321"
SPELLINGS = ["+5511987654321", "+55 11 98765-4321", "(11) 98765-4321"]


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


async def _call(tenant: Tenant, calendar: Calendar, action: str, **arguments: Any) -> Any:
    call = {"id": uuid.uuid4().hex, "name": calendar.names[action], "arguments": arguments}
    response = await tenant.api.post(
        f"/api/v1/bots/{calendar.bot_id}/tool-calls", json={"toolCalls": [call]}
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert len(result["content"]) <= 600
    return result


def _at(hhmm: str) -> str:
    return f"{next_monday().isoformat()}T{hhmm}"


def _when(hhmm: str) -> datetime:
    return datetime.fromisoformat(_at(hhmm)).replace(tzinfo=SAO_PAULO)


def _local(hhmm: str) -> str:
    """The start as results write it: local ISO with the offset."""
    return _when(hhmm).isoformat()


async def _book(
    tenant: Tenant, calendar: Calendar, hhmm: str, email: str = "maria@example.com", **more: Any
) -> str:
    result = await _call(
        tenant,
        calendar,
        "create_booking",
        start=_at(hhmm),
        attendeeName="Maria Silva",
        attendeeEmail=email,
        **more,
    )
    assert result["ok"] is True, result
    return str(result["data"]["bookingId"])


def _found(result: dict[str, Any]) -> list[tuple[str, str]]:
    assert result["ok"] is True, result
    return [(b["bookingId"], b["start"]) for b in result["data"]["bookings"]]


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
    event_id = await _book(tenant, calendar, "10:00", attendeePhone="(11) 98765-4321")
    await _book(tenant, calendar, "11:00", "jo@example.com", attendeePhone="+5511912345678")
    assert f"Phone: {PHONE}" in _event(sandbox, calendar, event_id)["description"]

    for spelling in SPELLINGS:
        result = await _call(tenant, calendar, "find_booking", attendeePhone=spelling)
        assert _found(result) == [(event_id, _local("10:00"))], spelling
        (booking,) = result["data"]["bookings"]
        assert booking["startUtc"] == f"{next_monday().isoformat()}T13:00:00Z"
        assert booking["title"] == "Dr Ana with Maria Silva"
        assert "10:00" in result["content"]
        assert event_id in result["content"]
    by_email = await _call(tenant, calendar, "find_booking", attendeeEmail="Maria@Example.com")
    assert _found(by_email) == [(event_id, _local("10:00"))]


async def test_cancel_by_phone_and_start_then_the_caller_has_no_bookings(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    event_id = await _book(tenant, calendar, "10:00", attendeePhone=PHONE)
    elsewhere = await _call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=_at("10:30")
    )
    assert elsewhere["error"]["code"] == "booking_not_found"
    assert "That day their bookings start at" in elsewhere["content"]

    cancelled = await _call(
        tenant, calendar, "cancel_booking", attendeePhone="(11) 98765-4321", start=_at("10:00")
    )
    assert cancelled["ok"] is True, cancelled
    assert cancelled["data"]["bookingId"] == event_id
    assert _event(sandbox, calendar, event_id)["status"] == "cancelled"
    assert [(r.provider_booking_id, r.status) for r in await index_rows(engine)] == [
        (event_id, "cancelled")
    ]
    none = await _call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert _found(none) == []
    assert "no upcoming bookings" in none["content"]


async def test_reschedule_by_phone_and_start_then_find_shows_the_new_time(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    event_id = await _book(tenant, calendar, "10:00", attendeePhone=PHONE)
    moved = await _call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeePhone="+55 11 98765-4321",
        start=_at("10:00"),
        newStart=_at("14:00"),
    )
    assert moved["ok"] is True, moved
    assert moved["data"]["bookingId"] == event_id
    (row,) = await index_rows(engine)
    assert (row.provider_booking_id, row.status) == (event_id, "booked")
    assert row.start_at == _when("14:00")

    found = await _call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert _found(found) == [(event_id, _local("14:00"))]
    by_email = await _call(
        tenant,
        calendar,
        "reschedule_booking",
        attendeeEmail="maria@example.com",
        start=_at("14:00"),
        newStart=_at("15:00"),
    )
    assert by_email["ok"] is True, by_email
    again = await _call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    assert _found(again) == [(event_id, _local("15:00"))]


async def test_events_made_in_google_itself_are_found_by_email_and_by_the_phone_written(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    calendar = await _calendar(tenant, sandbox)
    ours = await _book(tenant, calendar, "09:00", "lia@example.com")
    token, calendar_id = calendar.account.access_token, calendar.account.email
    invited = await google.insert_event(
        token,
        calendar_id,
        meeting(_when("15:00"), attendees=[{"email": "Lia@Example.com", "display_name": "Lia"}]),
    )
    phoned = await google.insert_event(
        token, calendar_id, meeting(_when("16:00"), description=f"Call first. Phone: {PHONE}")
    )
    by_email = await _call(tenant, calendar, "find_booking", attendeeEmail="lia@example.com")
    assert _found(by_email) == [(ours, _local("09:00")), (invited.id, _local("15:00"))]
    by_phone = await _call(tenant, calendar, "find_booking", attendeePhone="(11) 98765-4321")
    assert _found(by_phone) == [(phoned.id, _local("16:00"))]


async def test_at_most_five_soonest_first_and_none_deleted_elsewhere(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient, engine: AsyncEngine
) -> None:
    calendar = await _calendar(tenant, sandbox)
    times = ["16:00", "09:00", "13:00", "10:00", "15:00", "11:00", "14:00"]
    ids = {t: await _book(tenant, calendar, t, attendeePhone=PHONE) for t in times}
    # Deleted in Google Calendar, out of agentcal's sight: the index still says booked.
    await google.delete_event(calendar.account.access_token, calendar.account.email, ids["09:00"])

    found = await _call(tenant, calendar, "find_booking", attendeePhone=PHONE)
    soonest = ["10:00", "11:00", "13:00", "14:00", "15:00"]
    assert _found(found) == [(ids[t], _local(t)) for t in soonest]
    status = {r.provider_booking_id: r.status for r in await index_rows(engine)}
    assert status[ids["09:00"]] == "cancelled"  # what the search learned, kept


async def test_two_bookings_of_the_caller_at_one_time_are_ambiguous(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    calendar = await _calendar(tenant, sandbox)
    ours = await _book(tenant, calendar, "10:00", attendeePhone=PHONE)
    # Google stores overlapping events; this one names the caller only by phone.
    theirs = await google.insert_event(
        calendar.account.access_token,
        calendar.account.email,
        meeting(_when("10:00"), attendees=[], description=f"Phone: {PHONE}"),
    )
    result = await _call(
        tenant, calendar, "cancel_booking", attendeePhone=PHONE, start=_at("10:00")
    )
    assert result["error"]["code"] == "ambiguous_booking"
    assert {b["bookingId"] for b in result["data"]["bookings"]} == {ours, theirs.id}
    assert _event(sandbox, calendar, ours)["status"] == "confirmed"


async def test_another_functions_bookings_are_never_shown(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    mine = await _calendar(tenant, sandbox)
    other = await _calendar(tenant, sandbox)
    event_id = await _book(tenant, mine, "10:00", attendeePhone=PHONE)
    not_mine = await _book(tenant, other, "11:00", attendeePhone=PHONE)

    for arguments in ({"attendeePhone": PHONE}, {"attendeeEmail": "maria@example.com"}):
        assert _found(await _call(tenant, mine, "find_booking", **arguments)) == [
            (event_id, _local("10:00"))
        ]
        assert _found(await _call(tenant, other, "find_booking", **arguments)) == [
            (not_mine, _local("11:00"))
        ]
    refused = await _call(tenant, mine, "cancel_booking", attendeePhone=PHONE, start=_at("11:00"))
    assert refused["error"]["code"] == "booking_not_found"
    assert _event(sandbox, other, not_mine)["status"] == "confirmed"


async def test_find_refuses_an_email_that_is_no_address(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    calendar = await _calendar(tenant, sandbox)
    result = await _call(tenant, calendar, "find_booking", attendeeEmail="Maria Silva")
    assert result["error"]["code"] == "invalid_arguments"
    assert "not an e-mail address" in result["content"]
