"""Tool calls on a Cal.com integration, end to end: API → runtime → Cal.com sandbox."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agentcal.runtime.models import ToolCallRecord
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom, call_tools
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


async def test_check_availability_lists_speakable_times_and_full_data(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    monday = next_monday().isoformat()
    body = await call_tools(
        tenant,
        bot_id,
        {"id": "c1", "name": names["check_availability"], "arguments": {"startDate": monday}},
    )
    result = body["results"][0]
    assert result["ok"] is True
    assert result["toolCallId"] == "c1"
    assert "Monday" in result["content"]
    assert "09:00" in result["content"]
    assert "UTC-03:00" in result["content"]
    assert len(result["content"]) <= 600
    assert result["content"].count("more") == 1  # 12 times said, the other 6 counted once
    assert "6 more" in result["content"]
    slots = result["data"]["slots"]
    assert len(slots) == 18
    assert slots[0]["start"] == f"{monday}T09:00:00-03:00"
    assert slots[0]["startUtc"] == f"{monday}T12:00:00Z"
    assert body["messages"] == [
        {"role": "tool", "tool_call_id": "c1", "content": result["content"]}
    ]


async def test_create_booking_books_in_calcom(tenant: Tenant, sandbox: SandboxServer) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    start = f"{next_monday().isoformat()}T10:00"
    body = await call_tools(
        tenant,
        bot_id,
        {
            "id": "b1",
            "name": names["create_booking"],
            "arguments": {
                "start": start,
                "attendeeName": "Maria Silva",
                "attendeeEmail": "maria@example.com",
                "notes": "first visit",
            },
        },
    )
    result = body["results"][0]
    assert result["ok"] is True, result
    uid = result["data"]["bookingId"]
    assert uid in result["content"]
    assert "10:00" in result["content"]
    booking = sandbox.calcom.bookings[uid]
    assert booking.attendee["email"] == "maria@example.com"
    assert booking.start == datetime.fromisoformat(f"{start}:00").replace(tzinfo=SAO_PAULO)


async def test_a_taken_slot_answers_slot_unavailable_with_five_alternatives(
    tenant: Tenant,
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    args = {
        "start": f"{next_monday().isoformat()}T11:00",
        "attendeeName": "A",
        "attendeeEmail": "a@example.com",
    }
    first = await call_tools(
        tenant, bot_id, {"id": "x1", "name": names["create_booking"], "arguments": args}
    )
    assert first["results"][0]["ok"] is True
    second = await call_tools(
        tenant, bot_id, {"id": "x2", "name": names["create_booking"], "arguments": args}
    )
    result = second["results"][0]
    assert result["ok"] is False
    assert result["error"]["code"] == "slot_unavailable"
    assert result["error"]["retryable"] is False
    alternatives = result["data"]["alternatives"]
    assert 1 <= len(alternatives) <= 5
    assert all(a["start"] != f"{next_monday().isoformat()}T11:00:00-03:00" for a in alternatives)
    assert "nearest free times" in result["content"]


async def test_fifty_concurrent_bookings_of_one_slot_give_one_booking(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    args = {
        "start": f"{next_monday().isoformat()}T14:00",
        "attendeeName": "Racer",
        "attendeeEmail": "r@example.com",
    }
    clients = [tenant.client() for _ in range(50)]
    responses = await asyncio.gather(
        *(
            c.post(
                f"/api/v1/bots/{bot_id}/tool-calls",
                json={
                    "toolCalls": [
                        {"id": f"race-{i}", "name": names["create_booking"], "arguments": args}
                    ]
                },
            )
            for i, c in enumerate(clients)
        )
    )
    results = [r.json()["results"][0] for r in responses]
    assert sum(r["ok"] for r in results) == 1
    assert sum(r.get("error", {}).get("code") == "slot_unavailable" for r in results) == 49
    assert len(sandbox.calcom.bookings) == 1


async def test_a_repeated_call_id_replays_without_calling_calcom(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    call = {
        "id": "same-id",
        "name": names["create_booking"],
        "arguments": {
            "start": f"{next_monday().isoformat()}T15:00",
            "attendeeName": "Bo",
            "attendeeEmail": "bo@example.com",
        },
    }
    first = (await call_tools(tenant, bot_id, call))["results"][0]
    second = (await call_tools(tenant, bot_id, call))["results"][0]
    assert first == second
    assert len(sandbox.calcom.bookings) == 1
    changed = {**call, "arguments": {**call["arguments"], "attendeeName": "Other"}}
    conflict = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [changed]}
    )
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"


async def test_an_openai_assistant_message_is_accepted_as_it_is(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {
                    "name": names["check_availability"],
                    "arguments": f'{{"startDate": "{next_monday()}", '
                    '"endDate": null, "timeZone": null}',
                },
            }
        ],
    }
    response = await tenant.api.post(f"/api/v1/bots/{bot_id}/tool-calls", json=message)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"][0]["ok"] is True
    assert body["messages"][0]["tool_call_id"] == "call_abc"


async def test_a_switched_off_action_answers_tool_disabled(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant, createBookingEnabled=False)
    assert "create_booking" not in names
    body = await call_tools(
        tenant,
        bot_id,
        {"id": "d1", "name": "create_booking_dr_ana", "arguments": {"start": "2030-01-07T10:00"}},
    )
    assert body["results"][0]["error"]["code"] == "tool_disabled"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"startDate": "next tuesday"}, "invalid_datetime"),
        ({"startDate": "2020-01-06"}, "invalid_datetime"),
        ({"startDate": "2030-01-07", "timeZone": "Mars/Olympus"}, "invalid_timezone"),
        ("{not json", "invalid_arguments"),
    ],
)
async def test_bad_arguments_are_tool_errors_a_model_can_act_on(
    tenant: Tenant, arguments: Any, code: str
) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    body = await call_tools(
        tenant, bot_id, {"id": "e1", "name": names["check_availability"], "arguments": arguments}
    )
    result = body["results"][0]
    assert result["ok"] is False
    assert result["error"]["code"] == code
    assert result["content"]


async def test_an_unknown_tool_names_the_tools_there_are(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    result = (await call_tools(tenant, bot_id, {"id": "u1", "name": "book_it", "arguments": {}}))[
        "results"
    ][0]
    assert result["error"]["code"] == "unknown_tool"
    assert names["check_availability"] in result["content"]


async def test_every_call_is_audited_failures_included(tenant: Tenant, app: FastAPI) -> None:
    bot_id, integration_id, names = await bot_with_calcom(tenant)
    check = names["check_availability"]
    await call_tools(
        tenant,
        bot_id,
        {"id": "a1", "name": check, "arguments": {"startDate": str(next_monday())}},
        {"id": "a2", "name": check, "arguments": {"startDate": "someday"}},
    )
    async with app.state.sessionmaker() as session:
        rows = list(await session.scalars(select(ToolCallRecord).order_by(ToolCallRecord.call_id)))
    assert [(r.call_id, r.outcome) for r in rows] == [("a1", "ok"), ("a2", "invalid_datetime")]
    assert all(str(r.function_id) == integration_id for r in rows)
    assert all(len(r.arguments_hash) == 64 for r in rows)


async def test_the_single_function_call_endpoint(tenant: Tenant) -> None:
    _, integration_id, _ = await bot_with_calcom(tenant)
    response = await tenant.api.post(
        f"/api/v1/calcom/integration/{integration_id}/call",
        json={"name": "check_availability", "arguments": {"startDate": str(next_monday())}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True


async def test_another_institutions_bot_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    response = await other_tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={"toolCalls": [{"name": names["check_availability"], "arguments": {}}]},
    )
    assert response.status_code == 404


async def test_cancel_by_attendee_email_and_start(tenant: Tenant, sandbox: SandboxServer) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    start = f"{next_monday().isoformat()}T16:00"
    booked = await call_tools(
        tenant,
        bot_id,
        {
            "id": "k1",
            "name": names["create_booking"],
            "arguments": {
                "start": start,
                "attendeeName": "Lia",
                "attendeeEmail": "Lia@Example.com",
            },
        },
    )
    uid = booked["results"][0]["data"]["bookingId"]
    wrong = await call_tools(
        tenant,
        bot_id,
        {
            "id": "k2",
            "name": names["cancel_booking"],
            "arguments": {"attendeeEmail": "lia@example.com", "start": f"{next_monday()}T16:30"},
        },
    )
    assert wrong["results"][0]["error"]["code"] == "booking_not_found"
    assert sandbox.calcom.bookings[uid].status == "accepted"
    cancelled = await call_tools(
        tenant,
        bot_id,
        {
            "id": "k3",
            "name": names["cancel_booking"],
            "arguments": {"attendeeEmail": "lia@example.com", "start": start, "reason": "ill"},
        },
    )
    assert cancelled["results"][0]["ok"] is True, cancelled
    assert cancelled["results"][0]["data"]["bookingId"] == uid
    assert sandbox.calcom.bookings[uid].status == "cancelled"
    assert sandbox.calcom.bookings[uid].cancellation_reason == "ill"


async def test_cancel_needs_a_booking_id_or_email_and_start(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    body = await call_tools(
        tenant, bot_id, {"id": "k4", "name": names["cancel_booking"], "arguments": {"reason": "x"}}
    )
    assert body["results"][0]["error"]["code"] == "invalid_arguments"
    assert "attendeeEmail" in body["results"][0]["content"]
