"""Cal.com bookings across a crash: a booking carries its tool call in `metadata`, and a
call taken over from a process that died answers the booking that process made.

The crash is simulated in the database, as the claim a dead process leaves: `running`,
no result, its lease lapsed. (tests/test_processes.py kills a real server.)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import delete, func, select

from agentcal.providers.calcom.bookings import CALL_METADATA_KEY, call_tag
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom, call_tools, count_requests
from tests.support import die_before_storing, next_monday


def _booking(hhmm: str, email: str = "maria@example.com") -> dict[str, str]:
    return {
        "start": f"{next_monday().isoformat()}T{hhmm}",
        "attendeeName": "Maria Silva",
        "attendeeEmail": email,
    }


async def _call(
    tenant: Tenant, bot_id: str, name: str, arguments: dict[str, Any], call_id: str
) -> dict[str, Any]:
    body = await call_tools(tenant, bot_id, {"id": call_id, "name": name, "arguments": arguments})
    result: dict[str, Any] = body["results"][0]
    return result


def _live(sandbox: SandboxServer) -> list[Any]:
    return [b for b in sandbox.calcom.bookings.values() if b.status == "accepted"]


async def test_a_booking_made_by_a_call_with_an_id_carries_the_call_in_its_metadata(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    result = await _call(tenant, bot_id, names["create_booking"], _booking("09:00"), "tagged")
    assert result["ok"] is True, result
    (booking,) = _live(sandbox)
    assert booking.uid == result["data"]["bookingId"]
    assert booking.metadata == {CALL_METADATA_KEY: call_tag(f"bot:{bot_id}:tagged")}


async def test_a_booking_without_a_call_id_carries_no_metadata(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={"toolCalls": [{"name": names["create_booking"], "arguments": _booking("09:30")}]},
    )
    assert response.json()["results"][0]["ok"] is True, response.text
    (booking,) = _live(sandbox)
    assert booking.metadata == {}


def test_call_tags_are_stable_per_key_and_fit_calcoms_metadata_rules() -> None:
    tag = call_tag("bot:4f0c:call_1")
    assert tag == call_tag("bot:4f0c:call_1")
    assert tag != call_tag("bot:4f0c:call_2")
    assert tag != call_tag("bot:9a1d:call_1")
    assert len(CALL_METADATA_KEY) <= 40
    assert len(tag) <= 500
    assert "call_1" not in tag  # the key itself is not given to Cal.com


async def test_a_booking_repeated_after_its_process_died_answers_the_booking_it_made(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """The re-check would see the dead call's own booking and answer slot_unavailable;
    the repeat finds the booking by the call's tag in its metadata instead."""
    bot_id, _, names = await bot_with_calcom(tenant)
    args = _booking("15:00")
    first = await _call(tenant, bot_id, names["create_booking"], args, "crashed")
    assert first["ok"] is True, first
    await die_before_storing(app, bot_id, "crashed")
    bookings_sent = count_requests(sandbox, "POST", "/calcom/v2/bookings")

    again = await _call(tenant, bot_id, names["create_booking"], args, "crashed")
    assert again["ok"] is True, again
    assert again["data"]["bookingId"] == first["data"]["bookingId"]
    assert again["content"] == first["content"]
    assert bookings_sent() == 0
    assert [b.uid for b in sandbox.calcom.bookings.values()] == [first["data"]["bookingId"]]
    async with app.state.sessionmaker() as session:  # the repeat's record names it too
        booked = await session.scalars(
            select(ToolCallRecord.provider_booking_id).where(ToolCallRecord.call_id == "crashed")
        )
        assert list(booked) == [first["data"]["bookingId"]] * 2


async def test_a_booking_whose_process_died_before_calcom_made_it_is_made_by_the_repeat(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    args = _booking("15:30")
    first = await _call(tenant, bot_id, names["create_booking"], args, "crashed-early")
    assert first["ok"] is True, first
    sandbox.calcom.bookings.clear()  # as if the booking never reached Cal.com
    await die_before_storing(app, bot_id, "crashed-early")

    again = await _call(tenant, bot_id, names["create_booking"], args, "crashed-early")
    assert again["ok"] is True, again
    (booking,) = _live(sandbox)
    assert again["data"]["bookingId"] == booking.uid
    assert booking.metadata == {CALL_METADATA_KEY: call_tag(f"bot:{bot_id}:crashed-early")}


async def test_a_resumed_call_is_not_fooled_by_another_booking_of_its_slot(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """The dead call never booked, and someone else (the same attendee, even) has the
    slot now: that booking carries another call's tag, so the slot is unavailable."""
    bot_id, _, names = await bot_with_calcom(tenant)
    args = _booking("16:00")
    first = await _call(tenant, bot_id, names["create_booking"], args, "theirs")
    assert first["ok"] is True, first
    mine = await _call(tenant, bot_id, names["create_booking"], args, "mine")
    assert mine["ok"] is False
    await die_before_storing(app, bot_id, "mine")

    again = await _call(tenant, bot_id, names["create_booking"], args, "mine")
    assert again["ok"] is False, again
    assert again["error"]["code"] == "slot_unavailable"
    assert [b.uid for b in _live(sandbox)] == [first["data"]["bookingId"]]


async def test_a_booking_whose_claim_was_released_finds_its_own_booking(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """A first run that booked but lost its key (released on a cancellation, or taken
    over while it ran) leaves a repeat that is not marked resumed: its re-check sees the
    slot taken by the booking it made itself, and answers from it."""
    bot_id, _, names = await bot_with_calcom(tenant)
    args = _booking("16:30")
    first = await _call(tenant, bot_id, names["create_booking"], args, "released")
    assert first["ok"] is True, first
    async with app.state.sessionmaker.begin() as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == "released"))

    again = await _call(tenant, bot_id, names["create_booking"], args, "released")
    assert again["ok"] is True, again
    assert again["data"]["bookingId"] == first["data"]["bookingId"]
    assert len(sandbox.calcom.bookings) == 1
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(ToolCallRecord).where(ToolCallRecord.outcome == "ok")
        )
    assert count == 2
