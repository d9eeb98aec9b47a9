"""Google availability at voice speed: `freeBusy` answers kept briefly, a week at once.

The busy intervals are kept, not the slots: the function's rules (working hours,
notice, horizon, the duration asked) apply on every question. Each test has a sandbox
account of its own and counts the `freeBusy` requests the sandbox receives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentcal.providers.google_calendar.client import GoogleCalendarClient
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.availability_support import stale_then_fresh
from tests.providers.calcom.support import count_requests
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.providers.google_calendar.support import Account, google_client, meeting, new_account
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "12:00"}]
FREE_BUSY = "/google/calendar/v3/freeBusy"


def local(day: date, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(tzinfo=SAO_PAULO)


async def _setup(
    tenant: Tenant, sandbox: SandboxServer, **settings: Any
) -> tuple[str, Account, dict[str, str]]:
    """A function on a fresh account's calendar linked to a new bot: (bot id, the
    account, tool names by action)."""
    account = await new_account(sandbox)
    bot_id = await make_bot(tenant)
    fields = {"workingHours": WEEKDAYS, **settings}
    await link_google_function(tenant, sandbox, bot_id, account=account, **fields)
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    names = {
        t["function"]["name"].removesuffix("_dr_ana"): t["function"]["name"]
        for t in tools.json()["tools"]
    }
    return bot_id, account, names


async def _call(tenant: Tenant, bot_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    call = {"id": uuid.uuid4().hex, "name": name, "arguments": arguments}
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


def _starts(result: dict[str, Any]) -> list[str]:
    assert result["ok"] is True, result
    return [slot["start"][11:16] for slot in result["data"]["slots"]]


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    """A client reaching the sandbox directly, as the account's owner would."""
    client = google_client(sandbox)
    yield client
    await client.aclose()


async def test_the_next_days_and_other_durations_are_answered_from_one_request(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    bot_id, account, names = await _setup(tenant, sandbox)
    monday = next_monday()
    tuesday = monday + timedelta(days=1)
    await google.insert_event(account.access_token, account.email, meeting(local(tuesday, "10:00")))
    free_busy = count_requests(sandbox, "POST", FREE_BUSY)
    check = names["check_availability"]

    first = await _call(tenant, bot_id, check, startDate=monday.isoformat())
    assert _starts(first) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert first["data"]["fresh"] is True
    assert first["data"]["asOf"].endswith("Z")
    assert free_busy() == 1

    # Tuesday's busy time came with Monday's question; the rules apply to it now.
    second = await _call(tenant, bot_id, check, startDate=tuesday.isoformat())
    assert _starts(second) == ["09:00", "09:30", "10:30", "11:00", "11:30"]
    hour = await _call(tenant, bot_id, check, startDate=tuesday.isoformat(), durationMinutes=60)
    assert _starts(hour) == ["09:00", "10:30", "11:00"]
    friday = await _call(tenant, bot_id, check, startDate=(monday + timedelta(4)).isoformat())
    assert len(_starts(friday)) == 6
    assert {second["data"]["asOf"], hour["data"]["asOf"]} == {first["data"]["asOf"]}
    assert free_busy() == 1

    beyond = await _call(tenant, bot_id, check, startDate=(monday + timedelta(7)).isoformat())
    assert len(_starts(beyond)) == 6
    assert free_busy() == 2


async def test_the_week_fetched_stops_at_the_horizon(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """The week is clipped to what the function allows: days inside the horizon come
    with the first question, and a day beyond it asks nothing."""
    bot_id, _, names = await _setup(tenant, sandbox, horizonDays=3)
    free_busy = count_requests(sandbox, "POST", FREE_BUSY)
    check = names["check_availability"]
    today = datetime.now(SAO_PAULO).date()
    first = await _call(tenant, bot_id, check, startDate=today.isoformat())
    assert first["ok"] is True, first
    inside = await _call(tenant, bot_id, check, startDate=(today + timedelta(2)).isoformat())
    assert inside["ok"] is True, inside
    assert inside["data"]["asOf"] == first["data"]["asOf"]
    beyond = await _call(tenant, bot_id, check, startDate=(today + timedelta(5)).isoformat())
    assert beyond["data"]["slots"] == []
    assert "open until" in beyond["content"]
    assert free_busy() == 1


async def test_concurrent_questions_share_one_request(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await _setup(tenant, sandbox)
    many = 1000
    slow = Fault(path_prefix=FREE_BUSY, methods=frozenset({"POST"}), latency_ms=300, times=many)
    sandbox.state.faults.rules.append(slow)
    monday = next_monday()
    days = [monday, monday, monday + timedelta(days=3)]

    answers = await asyncio.gather(
        *(_call(tenant, bot_id, names["check_availability"], startDate=d.isoformat()) for d in days)
    )

    assert many - slow.times == 1
    assert all(answer["ok"] for answer in answers), answers


async def test_a_booking_re_checks_live_and_agentcal_s_own_booking_shows_at_once(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    bot_id, account, names = await _setup(tenant, sandbox)
    monday = next_monday()
    check, book = names["check_availability"], names["create_booking"]
    assert "10:00" in _starts(await _call(tenant, bot_id, check, startDate=monday.isoformat()))
    # Taken in Google itself, out of agentcal's sight.
    await google.insert_event(account.access_token, account.email, meeting(local(monday, "10:00")))

    shown = await _call(tenant, bot_id, check, startDate=monday.isoformat())
    assert "10:00" in _starts(shown)  # within its freshness: the cache's contract

    booking = {"attendeeName": "Maria Silva", "attendeeEmail": "maria@example.com"}
    taken = await _call(tenant, bot_id, book, start=f"{monday}T10:00", **booking)
    assert taken["ok"] is False, taken
    assert taken["error"]["code"] == "slot_unavailable"
    alternatives = {a["start"][11:16] for a in taken["data"]["alternatives"]}
    assert alternatives
    assert "10:00" not in alternatives
    events = sandbox.google.calendars[account.email].events.values()
    assert len([e for e in events if e.get("status") != "cancelled"]) == 1

    booked = await _call(tenant, bot_id, book, start=f"{monday}T11:00", **booking)
    assert booked["ok"] is True, booked
    after = await _call(tenant, bot_id, check, startDate=monday.isoformat())
    # A new answer: the outside booking and agentcal's both show.
    assert _starts(after) == ["09:00", "09:30", "10:30", "11:30"]


async def test_a_slow_freebusy_past_the_deadline_gets_the_last_answer_said_stale(
    quick_tenant: Tenant, sandbox: SandboxServer
) -> None:
    """The deadline: Google slower than it, the last busy times (fresh for a second
    here) are given stale, while the request goes on."""
    tenant = quick_tenant
    bot_id, _, names = await _setup(tenant, sandbox)
    monday = next_monday().isoformat()
    check = names["check_availability"]
    many = 1000
    slow = Fault(path_prefix=FREE_BUSY, methods=frozenset({"POST"}), latency_ms=1500, times=many)
    first, stale, fresh = await stale_then_fresh(
        lambda: _call(tenant, bot_id, check, startDate=monday), sandbox, slow
    )
    assert stale["data"]["asOf"] == first["data"]["asOf"]
    assert _starts(stale) == _starts(first)
    assert stale["content"].startswith("These times are as of 1 minute ago.")
    assert fresh["data"]["asOf"] > first["data"]["asOf"]
    assert many - slow.times == 1  # one request went on; the stale answers asked nothing
