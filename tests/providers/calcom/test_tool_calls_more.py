"""More Cal.com tool calls end to end (API → runtime → Cal.com sandbox): rescheduling, the
choice of event type, and event types that change in Cal.com after agentcal cached them.

Only agentcal's HTTP API and the sandbox's admin API and state are used here.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx

from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import (
    bot_with_calcom,
    bot_with_calcom_user,
    calcom_user,
    call_tools,
    count_requests,
)
from tests.support import next_monday, wait_until


async def _one(tenant: Tenant, bot_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    """The result of one call of tool `name` (a new call: a call id of its own)."""
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    body = await call_tools(tenant, bot_id, {"id": call_id, "name": name, "arguments": arguments})
    (result,) = body["results"]
    assert isinstance(result, dict)
    return result


async def _sandbox_bookings(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    """Every booking the Cal.com sandbox holds, by uid, as its admin API lists them."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.get("/sandbox/calcom/bookings")
    assert response.status_code == 200, response.text
    return {b["uid"]: b for b in response.json()["bookings"]}


# ------------------------------------------------------------------------------- reschedule


async def test_reschedule_booking_moves_the_booking_in_calcom(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    monday = next_monday().isoformat()
    booked = await _one(
        tenant,
        bot_id,
        names["create_booking"],
        start=f"{monday}T10:00",
        attendeeName="Maria Silva",
        attendeeEmail="maria@example.com",
    )
    assert booked["ok"] is True, booked
    old_uid = booked["data"]["bookingId"]

    moved = await _one(
        tenant,
        bot_id,
        names["reschedule_booking"],
        bookingId=old_uid,
        newStart=f"{monday}T15:30",
        reason="the patient has a conflict",
    )
    assert moved["ok"] is True, moved
    new_uid = moved["data"]["bookingId"]
    assert new_uid != old_uid  # Cal.com makes a new booking for the new time
    assert moved["data"]["status"] == "accepted"
    assert moved["data"]["start"] == f"{monday}T15:30:00-03:00"
    assert moved["data"]["end"] == f"{monday}T16:00:00-03:00"  # its length kept
    assert moved["data"]["startUtc"] == f"{monday}T18:30:00Z"
    assert moved["data"]["timeZone"] == "America/Sao_Paulo"
    assert moved["data"]["attendee"] == {"name": "Maria Silva", "email": "maria@example.com"}
    assert moved["content"].startswith("Moved the booking to ")
    assert "15:30" in moved["content"]
    assert f"New booking id: {new_uid}." in moved["content"]

    # In Cal.com: the old booking is cancelled and points at the new one, at the new time.
    bookings = await _sandbox_bookings(sandbox)
    assert set(bookings) == {old_uid, new_uid}
    old, new = bookings[old_uid], bookings[new_uid]
    assert old["status"] == "cancelled"
    assert old["rescheduledToUid"] == new_uid
    assert old["start"] == f"{monday}T13:00:00.000Z"
    assert new["status"] == "accepted"
    assert new["rescheduledFromUid"] == old_uid
    assert new["reschedulingReason"] == "the patient has a conflict"
    assert (new["start"], new["end"]) == (f"{monday}T18:30:00.000Z", f"{monday}T19:00:00.000Z")
    assert new["attendees"][0]["email"] == "maria@example.com"

    # ...so availability shows 10:00 free again and 15:30 taken.
    check = await _one(tenant, bot_id, names["check_availability"], startDate=monday)
    assert check["ok"] is True, check
    starts = {slot["start"] for slot in check["data"]["slots"]}
    assert f"{monday}T10:00:00-03:00" in starts
    assert f"{monday}T15:30:00-03:00" not in starts


async def test_reschedule_to_a_taken_time_answers_slot_unavailable_and_moves_nothing(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    monday = next_monday().isoformat()
    uids = []
    for hour, email in (("10:00", "a@example.com"), ("11:00", "b@example.com")):
        booked = await _one(
            tenant,
            bot_id,
            names["create_booking"],
            start=f"{monday}T{hour}",
            attendeeName="Patient",
            attendeeEmail=email,
        )
        assert booked["ok"] is True, booked
        uids.append(booked["data"]["bookingId"])

    refused = await _one(
        tenant, bot_id, names["reschedule_booking"], bookingId=uids[0], newStart=f"{monday}T11:00"
    )
    assert refused["ok"] is False
    assert refused["error"]["code"] == "slot_unavailable"
    bookings = await _sandbox_bookings(sandbox)
    assert set(bookings) == set(uids)
    assert [bookings[uid]["status"] for uid in uids] == ["accepted", "accepted"]
    assert bookings[uids[0]]["start"] == f"{monday}T13:00:00.000Z"


# ------------------------------------------------------------------------ the event type


async def test_several_event_types_and_no_default_answer_event_type_required(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    user = await calcom_user(sandbox, [("30min", 30), ("consulta", 45), ("retorno", 20)])
    bot_id, _, names = await bot_with_calcom_user(tenant, user)  # no default event type
    monday = next_monday().isoformat()
    listed = [
        {"slug": "30min", "lengthInMinutes": 30},
        {"slug": "consulta", "lengthInMinutes": 45},
        {"slug": "retorno", "lengthInMinutes": 20},
    ]

    result = await _one(tenant, bot_id, names["check_availability"], startDate=monday)
    assert result["ok"] is False
    assert result["error"]["code"] == "event_type_required"
    assert result["data"]["eventTypes"] == listed
    assert "eventTypeSlug" in result["content"]
    for event_type in listed:
        assert event_type["slug"] in result["content"]

    # A booking without the event type is refused the same way, and books nothing.
    booking = await _one(
        tenant,
        bot_id,
        names["create_booking"],
        start=f"{monday}T10:00",
        attendeeName="Ana",
        attendeeEmail="ana@example.com",
    )
    assert booking["ok"] is False
    assert booking["error"]["code"] == "event_type_required"
    assert booking["data"]["eventTypes"] == listed
    assert await _sandbox_bookings(sandbox) == {}

    # One of the slugs listed is what the call needed.
    chosen = await _one(
        tenant, bot_id, names["check_availability"], startDate=monday, eventTypeSlug="consulta"
    )
    assert chosen["ok"] is True, chosen
    consulta = next(t for t in user["eventTypes"] if t["slug"] == "consulta")
    assert chosen["data"]["eventType"] == {
        "id": consulta["id"],
        "slug": "consulta",
        "lengthInMinutes": 45,
    }
    starts = [slot["start"] for slot in chosen["data"]["slots"]]
    assert starts[:2] == [f"{monday}T09:00:00-03:00", f"{monday}T09:45:00-03:00"]


async def test_an_event_type_deleted_in_calcom_after_it_was_cached_is_fetched_again(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    user = await calcom_user(sandbox, [("30min", 30), ("60min", 60)])
    bot_id, _, names = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
    thirty = next(t for t in user["eventTypes"] if t["slug"] == "30min")
    fetches = count_requests(sandbox, "GET", "/calcom/v2/event-types")
    monday = next_monday().isoformat()

    for _ in range(2):
        check = await _one(tenant, bot_id, names["check_availability"], startDate=monday)
        assert check["ok"] is True, check
        assert check["data"]["eventType"]["id"] == thirty["id"]
    assert fetches() == 1  # the second call used the list the first one fetched

    # The event type is deleted in Cal.com after agentcal re-checked the slot with it, while
    # its booking request is on the way (held up by the sandbox).
    delay = Fault(path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), latency_ms=300)
    sandbox.state.faults.rules.append(delay)
    booking = asyncio.create_task(
        _one(
            tenant,
            bot_id,
            names["create_booking"],
            start=f"{monday}T10:00",
            attendeeName="Ana",
            attendeeEmail="ana@example.com",
        )
    )
    await wait_until(lambda: all(rule is not delay for rule in sandbox.state.faults.rules))
    assert not booking.done()
    account = sandbox.calcom.users[user["username"]]
    account.event_types = [t for t in account.event_types if t.slug != "30min"]

    failed = await booking
    assert failed["ok"] is False
    assert failed["error"]["code"] == "not_found"  # Cal.com: 404, event type not found
    assert not any(b.user is account for b in sandbox.calcom.bookings.values())
    assert fetches() == 1

    # The failure discarded the cached list: the next call fetches it again, and finds the
    # default event type gone (with the stale list it would have used the deleted one).
    after = await _one(tenant, bot_id, names["check_availability"], startDate=monday)
    assert fetches() == 2
    assert after["ok"] is False
    assert after["error"]["code"] == "event_type_required"
    assert after["data"]["eventTypes"] == [{"slug": "60min", "lengthInMinutes": 60}]
    # ...and keeps the new list: the call after that is answered from it.
    sixty = await _one(
        tenant, bot_id, names["check_availability"], startDate=monday, eventTypeSlug="60min"
    )
    assert sixty["ok"] is True, sixty
    assert sixty["data"]["eventType"]["slug"] == "60min"
    assert fetches() == 2


async def test_an_event_type_deleted_before_a_call_is_refused_once_then_fetched_again(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """The common case: deleted in Cal.com between two calls. The slots request of the
    cached event type is refused, and that alone must discard the cached list."""
    user = await calcom_user(sandbox, [("30min", 30), ("60min", 60)])
    bot_id, _, names = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
    fetches = count_requests(sandbox, "GET", "/calcom/v2/event-types")
    monday = next_monday().isoformat()
    first = await _one(tenant, bot_id, names["check_availability"], startDate=monday)
    assert first["ok"] is True, first
    assert fetches() == 1

    account = sandbox.calcom.users[user["username"]]
    account.event_types = [t for t in account.event_types if t.slug != "30min"]

    # A day beyond the week the first question fetched: its slots are asked of Cal.com,
    # not answered from the availability cache.
    later = (next_monday() + timedelta(days=14)).isoformat()
    refused = await _one(tenant, bot_id, names["check_availability"], startDate=later)
    assert refused["ok"] is False
    assert refused["error"]["code"] in {"not_found", "invalid_request"}, refused
    assert fetches() == 1  # answered from the stale list, which Cal.com refused

    after = await _one(tenant, bot_id, names["check_availability"], startDate=later)
    assert fetches() == 2, "the refusal discarded the stale list"
    assert after["error"]["code"] == "event_type_required"
    assert after["data"]["eventTypes"] == [{"slug": "60min", "lengthInMinutes": 60}]
