"""`googleCalendar.busyCalendarIds`, end to end: other calendars of the account block slots.

Each test makes a fresh sandbox account with a second calendar ("Team"), a function on
the account's primary calendar linked to a bot, and posts tool calls as an agent would.
Busy times come from one `freeBusy` request for every calendar, counted at the sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentcal.providers.google_calendar.client import GoogleCalendarClient
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import count_requests
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.providers.google_calendar.support import (
    Account,
    add_calendar,
    google_client,
    meeting,
    new_account,
)
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
MORNING = [{"days": ["mon"], "start": "09:00", "end": "12:00"}]
FREE_BUSY = "/google/calendar/v3/freeBusy"


def local(day: date, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(tzinfo=SAO_PAULO)


@dataclass(frozen=True)
class Setup:
    bot_id: str
    account: Account
    team: str  # the id of the account's second calendar
    names: dict[str, str]  # action → tool name


async def _setup(
    tenant: Tenant, sandbox: SandboxServer, busy: list[str] | None = None, **settings: Any
) -> Setup:
    """A function on a fresh account's primary calendar; `busy` picks which calendar
    ids it lists in `busyCalendarIds` ("team" stands for the account's second one)."""
    account = await new_account(sandbox)
    team = await add_calendar(sandbox, account)
    if busy is not None:
        settings["busyCalendarIds"] = [team if b == "team" else b for b in busy]
    bot_id = await make_bot(tenant)
    await link_google_function(
        tenant, sandbox, bot_id, account=account, workingHours=MORNING, **settings
    )
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    names = {
        t["function"]["name"].removesuffix("_dr_ana"): t["function"]["name"]
        for t in tools.json()["tools"]
    }
    return Setup(bot_id, account, team, names)


async def _call(tenant: Tenant, setup: Setup, action: str, arguments: dict[str, Any]) -> Any:
    call = {"id": uuid.uuid4().hex, "name": setup.names[action], "arguments": arguments}
    response = await tenant.api.post(
        f"/api/v1/bots/{setup.bot_id}/tool-calls", json={"toolCalls": [call]}
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def _book(day: date, hhmm: str, **extra: Any) -> dict[str, Any]:
    return {
        "start": f"{day.isoformat()}T{hhmm}",
        "attendeeName": "Maria Silva",
        "attendeeEmail": "maria@example.com",
        **extra,
    }


def _starts(result: dict[str, Any]) -> list[str]:
    return [slot["start"][11:16] for slot in result["data"]["slots"]]


def _start(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"])


def _live_events(sandbox: SandboxServer, calendar_id: str) -> list[dict[str, Any]]:
    events = sandbox.google.calendars[calendar_id].events.values()
    return [e for e in events if e.get("status") != "cancelled"]


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    """A client reaching the sandbox directly, as the account's owner would."""
    client = google_client(sandbox)
    yield client
    await client.aclose()


async def test_an_event_on_a_listed_calendar_takes_its_slot_in_one_freebusy_request(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    setup = await _setup(tenant, sandbox, busy=["team"])
    monday = next_monday()
    await google.insert_event(
        setup.account.access_token, setup.team, meeting(local(monday, "10:00"), 60)
    )
    free_busy = count_requests(sandbox, "POST", FREE_BUSY)

    result = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})

    assert result["ok"] is True, result
    assert _starts(result) == ["09:00", "09:30", "11:00", "11:30"]
    assert free_busy() == 1

    taken = await _call(tenant, setup, "create_booking", _book(monday, "10:30"))
    assert taken["ok"] is False, taken
    assert taken["error"]["code"] == "slot_unavailable"
    alternatives = {a["start"][11:16] for a in taken["data"]["alternatives"]}
    assert alternatives == {"09:00", "09:30", "11:00", "11:30"}
    assert free_busy() == 2  # the live re-check: one request again
    assert _live_events(sandbox, setup.account.email) == []

    booked = await _call(tenant, setup, "create_booking", _book(monday, "11:00"))
    assert booked["ok"] is True, booked
    (event,) = _live_events(sandbox, setup.account.email)
    assert len(_live_events(sandbox, setup.team)) == 1  # written to the function's own only
    assert _start(event) == local(monday, "11:00")


async def test_without_the_field_another_calendars_events_leave_the_slot_free(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    setup = await _setup(tenant, sandbox)
    monday = next_monday()
    await google.insert_event(
        setup.account.access_token, setup.team, meeting(local(monday, "10:00"), 60)
    )
    result = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})
    assert "10:00" in _starts(result)
    assert "10:30" in _starts(result)
    booked = await _call(tenant, setup, "create_booking", _book(monday, "10:30"))
    assert booked["ok"] is True, booked


async def test_a_move_onto_a_time_busy_on_a_listed_calendar_is_slot_unavailable(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    """The moving event's own time is freed on its calendar only: a listed calendar busy
    during it still blocks the new time."""
    setup = await _setup(tenant, sandbox, busy=["team"])
    monday = next_monday()
    booked = await _call(
        tenant, setup, "create_booking", _book(monday, "09:00", durationMinutes=60)
    )
    assert booked["ok"] is True, booked
    await google.insert_event(
        setup.account.access_token, setup.team, meeting(local(monday, "09:30"))
    )
    booking_id = booked["data"]["bookingId"]

    moved = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": booking_id, "newStart": f"{monday}T09:30"},
    )
    assert moved["ok"] is False, moved
    assert moved["error"]["code"] == "slot_unavailable"
    (event,) = _live_events(sandbox, setup.account.email)
    assert _start(event) == local(monday, "09:00")

    moved = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": booking_id, "newStart": f"{monday}T10:00"},
    )
    assert moved["ok"] is True, moved


@pytest.mark.parametrize("unknown", ["nobody@group.calendar.google.com", "someone-else"])
async def test_a_listed_calendar_google_cannot_find_is_calendar_not_found(
    tenant: Tenant, sandbox: SandboxServer, unknown: str
) -> None:
    """Never taken as free: freeBusy answers it with `notFound` and no busy times."""
    if unknown == "someone-else":  # a calendar that exists, of another account
        unknown = (await new_account(sandbox)).email
    setup = await _setup(tenant, sandbox, busy=["team", unknown])
    monday = next_monday()
    free_busy = count_requests(sandbox, "POST", FREE_BUSY)

    result = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})
    assert result["ok"] is False, result
    assert result["error"]["code"] == "calendar_not_found"
    assert unknown in result["content"]
    assert "busyCalendarIds" in result["content"]
    assert free_busy() == 1

    booking = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    assert booking["ok"] is False, booking
    assert booking["error"]["code"] == "calendar_not_found"
    assert _live_events(sandbox, setup.account.email) == []


async def test_the_sandbox_answers_each_asked_calendar_in_one_freebusy(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    """As Google: an entry per asked id, keyed as asked, `errors` for one it cannot see."""
    account = await new_account(sandbox)
    team = await add_calendar(sandbox, account)
    start = local(next_monday(), "10:00")
    await google.insert_event(account.access_token, team, meeting(start))
    answer = await google.free_busy(
        account.access_token,
        ["primary", team, "nobody@example.com"],
        start - timedelta(hours=1),
        start + timedelta(hours=2),
    )
    assert set(answer.calendars) == {"primary", team, "nobody@example.com"}
    assert answer.calendars["primary"].busy == []
    assert answer.calendars["primary"].errors == []
    (period,) = answer.calendars[team].busy
    assert (period.start, period.end) == (start, start + timedelta(minutes=30))
    missing = answer.calendars["nobody@example.com"]
    assert [(e.domain, e.reason) for e in missing.errors] == [("global", "notFound")]
    assert missing.busy == []
