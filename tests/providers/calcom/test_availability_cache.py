"""Cal.com availability at voice speed: `/v2/slots` answers kept briefly, a week at once.

Each test has a Cal.com user of its own (`calcom_user`), so no other test's answers are
kept for it, and counts the `/v2/slots` requests the sandbox receives.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.availability_support import stale_then_fresh
from tests.providers.calcom.support import (
    bot_with_calcom_user,
    calcom_user,
    call_tools,
    count_requests,
)
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
SLOTS = "/calcom/v2/slots"


async def _setup(tenant: Tenant, sandbox: SandboxServer) -> tuple[str, dict[str, str], str]:
    """(bot id, tool names, the user's name)."""
    user = await calcom_user(sandbox, [("30min", 30)])
    bot_id, _, names = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
    return bot_id, names, user["username"]


async def _call(tenant: Tenant, bot_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    body = await call_tools(tenant, bot_id, {"id": None, "name": name, "arguments": arguments})
    result: dict[str, Any] = body["results"][0]
    return result


def _starts(result: dict[str, Any]) -> list[str]:
    assert result["ok"] is True, result
    return [slot["start"] for slot in result["data"]["slots"]]


async def test_a_day_asked_again_and_the_next_days_are_answered_from_one_request(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, names, _ = await _setup(tenant, sandbox)
    slots = count_requests(sandbox, "GET", SLOTS)
    monday = next_monday()
    before = datetime.now(UTC).replace(microsecond=0)

    first = await _call(tenant, bot_id, names["check_availability"], startDate=monday.isoformat())
    assert slots() == 1
    assert first["data"]["fresh"] is True
    as_of = datetime.fromisoformat(first["data"]["asOf"])
    assert before <= as_of <= datetime.now(UTC)
    assert first["data"]["asOf"].endswith("Z")

    again = await _call(tenant, bot_id, names["check_availability"], startDate=monday.isoformat())
    assert _starts(again) == _starts(first)
    assert again["data"]["asOf"] == first["data"]["asOf"]
    # The prefetched week: every day through Sunday is answered without asking Cal.com.
    for days in range(1, 7):
        day = (monday + timedelta(days=days)).isoformat()
        later = await _call(tenant, bot_id, names["check_availability"], startDate=day)
        assert later["ok"] is True, later
        assert all(s.startswith(day) for s in _starts(later)), later
        assert later["data"]["asOf"] == first["data"]["asOf"]
    tuesday = await _call(
        tenant, bot_id, names["check_availability"], startDate=(monday + timedelta(1)).isoformat()
    )
    assert tuesday["data"]["slots"][0]["start"] == f"{monday + timedelta(1)}T09:00:00-03:00"
    assert slots() == 1

    beyond = (monday + timedelta(days=7)).isoformat()
    asked = await _call(tenant, bot_id, names["check_availability"], startDate=beyond)
    assert _starts(asked)[0] == f"{beyond}T09:00:00-03:00"
    assert slots() == 2


async def test_concurrent_questions_share_one_request(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, names, _ = await _setup(tenant, sandbox)
    many = 1000
    slow = Fault(path_prefix=SLOTS, methods=frozenset({"GET"}), latency_ms=300, times=many)
    sandbox.state.faults.rules.append(slow)
    monday = next_monday()
    days = [monday, monday, monday + timedelta(days=2)]  # the third inside the week asked

    answers = await asyncio.gather(
        *(
            _call(tenant, bot_id, names["check_availability"], startDate=day.isoformat())
            for day in days
        )
    )

    assert many - slow.times == 1
    assert all(answer["ok"] for answer in answers), answers
    assert len({answer["data"]["asOf"] for answer in answers}) == 1


async def test_agentcal_s_own_booking_empties_the_calendar_s_answers_at_once(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, names, _ = await _setup(tenant, sandbox)
    monday = next_monday().isoformat()
    slots = count_requests(sandbox, "GET", SLOTS)
    first = await _call(tenant, bot_id, names["check_availability"], startDate=monday)
    ten = f"{monday}T10:00:00-03:00"
    assert ten in _starts(first)

    booked = await _call(
        tenant,
        bot_id,
        names["create_booking"],
        start=f"{monday}T10:00",
        attendeeName="Maria Silva",
        attendeeEmail="maria@example.com",
    )
    assert booked["ok"] is True, booked
    asked = slots()  # the live re-check went to Cal.com too

    after = await _call(tenant, bot_id, names["check_availability"], startDate=monday)
    assert ten not in _starts(after)
    assert slots() == asked + 1

    cancelled = await _call(
        tenant, bot_id, names["cancel_booking"], bookingId=booked["data"]["bookingId"]
    )
    assert cancelled["ok"] is True, cancelled
    again = await _call(tenant, bot_id, names["check_availability"], startDate=monday)
    assert ten in _starts(again)
    assert slots() == asked + 2


async def test_a_booking_re_checks_live_what_the_cache_still_shows_free(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, names, username = await _setup(tenant, sandbox)
    monday = next_monday().isoformat()
    first = await _call(tenant, bot_id, names["check_availability"], startDate=monday)
    ten = f"{monday}T10:00:00-03:00"
    assert ten in _starts(first)
    # Taken in Cal.com itself, out of agentcal's sight.
    (event_type,) = sandbox.calcom.users[username].event_types
    start = datetime.fromisoformat(ten)
    outside = sandbox.calcom.book(event_type, start, 30, {"name": "Zé", "email": "ze@x.com"}, None)
    assert outside is not None

    # Within its freshness the kept answer may still show it: that is the cache's contract.
    shown = await _call(tenant, bot_id, names["check_availability"], startDate=monday)
    assert ten in _starts(shown)

    taken = await _call(
        tenant,
        bot_id,
        names["create_booking"],
        start=f"{monday}T10:00",
        attendeeName="Maria Silva",
        attendeeEmail="maria@example.com",
    )
    assert taken["ok"] is False, taken
    assert taken["error"]["code"] == "slot_unavailable"
    assert taken["data"]["alternatives"]
    assert ten not in {a["start"] for a in taken["data"]["alternatives"]}
    at_ten = [
        b for b in sandbox.calcom.bookings.values() if b.start == start and b.status == "accepted"
    ]
    assert [b.uid for b in at_ten] == [outside.uid]


async def test_a_slow_cal_com_past_the_deadline_gets_the_last_answer_said_stale(
    quick_tenant: Tenant, sandbox: SandboxServer
) -> None:
    """The deadline: Cal.com slower than it, the last answer (fresh for a second here)
    is given stale, while the request goes on and its answer is given next."""
    tenant = quick_tenant
    bot_id, names, _ = await _setup(tenant, sandbox)
    monday = next_monday().isoformat()
    check = names["check_availability"]
    many = 1000
    slow = Fault(path_prefix=SLOTS, methods=frozenset({"GET"}), latency_ms=1500, times=many)
    first, stale, fresh = await stale_then_fresh(
        lambda: _call(tenant, bot_id, check, startDate=monday), sandbox, slow
    )
    assert stale["data"]["asOf"] == first["data"]["asOf"]
    assert _starts(stale) == _starts(first)
    assert stale["content"].startswith("These times are as of 1 minute ago.")
    assert fresh["data"]["asOf"] > first["data"]["asOf"]
    assert "as of" not in fresh["content"]
    assert many - slow.times == 1  # one request went on; the stale answers asked nothing
