"""The ElevenLabs hook: one URL per tool, a flat body with ElevenLabs' system variables."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.runtime.models import IdempotencyRecord
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom
from tests.runtime.channels.hooks_support import (
    CALLER,
    create_channel,
    elevenlabs_body,
    post_elevenlabs,
)
from tests.runtime.channels.support import fixture
from tests.server_errors import watch_server_errors
from tests.support import next_monday

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)


async def elevenlabs_bot(tenant: Tenant) -> tuple[dict[str, Any], dict[str, str]]:
    """An ElevenLabs channel of a bot with the demo Cal.com integration; its tool names."""
    bot_id, _, names = await bot_with_calcom(tenant)
    return await create_channel(tenant, bot_id, "elevenlabs"), names


def booking(hhmm: str) -> dict[str, Any]:
    return {
        "start": f"{next_monday().isoformat()}T{hhmm}",
        "attendeeName": "Ana Lima",
        "attendeeEmail": "ana@example.com",
    }


async def test_the_recorded_body_runs_on_its_tools_url(tenant: Tenant) -> None:
    channel, names = await elevenlabs_bot(tenant)
    body = fixture("elevenlabs", "webhook-tool")
    body["startDate"] = next_monday().isoformat()

    response = await post_elevenlabs(tenant.api, channel, names["check_availability"], body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"result", "ok", "data"}
    assert answer["ok"] is True
    assert answer["data"]["slots"]


async def test_a_booking_takes_the_caller_id_and_a_repeat_replays_it(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await elevenlabs_bot(tenant)
    book = names["create_booking"]
    body = elevenlabs_body(booking("10:00"))

    first = await post_elevenlabs(tenant.api, channel, book, body)
    repeat = await post_elevenlabs(tenant.api, channel, book, body)

    assert first.json()["ok"] is True, first.text
    assert repeat.json() == first.json()
    (booked,) = sandbox.calcom.bookings.values()
    assert booked.attendee["phoneNumber"] == CALLER


async def test_another_conversation_is_another_call(tenant: Tenant, sandbox: SandboxServer) -> None:
    channel, names = await elevenlabs_bot(tenant)
    book = names["create_booking"]
    await post_elevenlabs(tenant.api, channel, book, elevenlabs_body(booking("11:00")))

    other = await post_elevenlabs(
        tenant.api, channel, book, elevenlabs_body(booking("11:00"), conversation_id="conv_2")
    )

    assert other.json()["error"]["code"] == "slot_unavailable"
    assert len(sandbox.calcom.bookings) == 1


async def test_without_a_conversation_id_a_call_simply_runs(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await elevenlabs_bot(tenant)
    book = names["create_booking"]
    body = elevenlabs_body(booking("12:00"), conversation_id=None)

    first = await post_elevenlabs(tenant.api, channel, book, body)
    second = await post_elevenlabs(tenant.api, channel, book, body)

    assert first.json()["ok"] is True
    assert second.json()["error"]["code"] == "slot_unavailable"  # nothing to key it by


async def test_a_browser_conversation_gives_no_number(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body(booking("13:00"), caller="web-7f2a9c")

    response = await post_elevenlabs(tenant.api, channel, names["create_booking"], body)

    assert response.json()["ok"] is True, response.text
    (booked,) = sandbox.calcom.bookings.values()
    assert "phoneNumber" not in booked.attendee


async def test_system_variables_are_not_arguments(tenant: Tenant) -> None:
    """A strict tool would refuse them; they never reach it."""
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body({"startDate": next_monday().isoformat()})
    body["system__called_number"] = "+551130000000"
    body["system__time_utc"] = "2026-03-09T13:00:00Z"

    response = await post_elevenlabs(tenant.api, channel, names["check_availability"], body)

    assert response.json()["ok"] is True


async def test_an_unknown_tool_is_a_result_naming_the_tools(tenant: Tenant) -> None:
    channel, names = await elevenlabs_bot(tenant)
    response = await post_elevenlabs(tenant.api, channel, "book_a_table", elevenlabs_body({}))
    assert response.status_code == 200
    assert response.json()["error"]["code"] == "unknown_tool"
    assert names["create_booking"] in response.json()["result"]


async def test_a_missing_or_wrong_secret_is_401(
    tenant: Tenant, client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body(booking("14:00"))
    for headers in (
        {},
        {"Authorization": f"Bearer {channel['secret']}x"},
        {"Authorization": channel["secret"]},
        {"X-Vapi-Secret": channel["secret"]},  # Vapi's header is not ElevenLabs'
        {"Authorization": f"Bearer {tenant.token}"},
    ):
        response = await post_elevenlabs(client, channel, names["create_booking"], body, headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith('Bearer realm="agentcal"')
    assert sandbox.calcom.bookings == {}


async def test_malformed_bodies_are_422(tenant: Tenant) -> None:
    channel, names = await elevenlabs_bot(tenant)
    check = names["check_availability"]
    for body in ([], "x", {"system__conversation_id": 7}, {"system__caller_id": ["+1"]}):
        response = await tenant.api.post(
            f"{channel['url']}/{check}",
            json=body,
            headers={"Authorization": f"Bearer {channel['secret']}"},
        )
        assert response.status_code == 422, body
    too_long = await post_elevenlabs(tenant.api, channel, "x" * 65, elevenlabs_body({}))
    assert too_long.status_code == 422


async def test_the_caller_books_finds_and_cancels_by_their_number(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await elevenlabs_bot(tenant)
    start = booking("16:30")["start"]

    booked = await post_elevenlabs(
        tenant.api, channel, names["create_booking"], elevenlabs_body(booking("16:30"))
    )
    found = await post_elevenlabs(tenant.api, channel, names["find_booking"], elevenlabs_body({}))
    cancelled = await post_elevenlabs(
        tenant.api, channel, names["cancel_booking"], elevenlabs_body({"start": start})
    )

    booking_id = booked.json()["data"]["bookingId"]
    assert [b["bookingId"] for b in found.json()["data"]["bookings"]] == [booking_id]
    assert cancelled.json()["ok"] is True, cancelled.text
    assert sandbox.calcom.bookings[booking_id].status == "cancelled"


async def test_a_lone_surrogate_in_the_arguments_is_a_result_not_a_500(tenant: Tenant) -> None:
    """JSON may carry `\\ud800`; deriving the call's key must not choke on it."""
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body({**booking("10:00"), "attendeeName": "Ana \ud800"})
    response = await tenant.api.post(
        f"{channel['url']}/{names['create_booking']}",
        content=json.dumps(body).encode("ascii"),  # as `\ud800`: valid JSON, not UTF-8
        headers={
            "Authorization": f"Bearer {channel['secret']}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text


async def test_a_number_the_model_gave_is_kept_even_when_it_is_no_string(tenant: Tenant) -> None:
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body({"attendeePhone": 4930123456})
    response = await post_elevenlabs(tenant.api, channel, names["find_booking"], body)
    answer = response.json()
    assert answer["ok"] is False  # the model's own mistake, said to it
    assert answer["error"]["code"] == "invalid_arguments"
    assert "attendeePhone" in answer["result"]


async def test_a_derived_key_replays_for_minutes_not_a_day(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    """Within the phone call, the same words later are a new request (booking a time
    again after cancelling it): a derived key replays only through the retries."""
    channel, names = await elevenlabs_bot(tenant)
    body = elevenlabs_body(booking("11:30"))
    booked = await post_elevenlabs(tenant.api, channel, names["create_booking"], body)
    assert booked.json()["ok"] is True, booked.text
    async with engine.connect() as connection:
        (kept,) = (
            await connection.execute(
                select(IdempotencyRecord.created_at, IdempotencyRecord.expires_at).where(
                    IdempotencyRecord.scope == f"channel:{channel['id']}"
                )
            )
        ).all()
    assert kept.expires_at - kept.created_at == timedelta(minutes=10)
