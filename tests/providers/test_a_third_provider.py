"""A provider is a package plus one registry entry: the runtime serves it unchanged.

The provider here keeps its one function in memory and answers every action itself.
Registered in the registry alone, it gets tool names and descriptions, tool lists in
every format, the per-function `/tools` and `/call` routes, MCP titles, idempotent
replays and audit records, without a line of `agentcal.runtime` knowing it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import APIRouter, FastAPI
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.errors import NotFound
from agentcal.providers import registry
from agentcal.providers.arguments import (
    CancelBookingArguments,
    CheckAvailabilityArguments,
    CreateBookingArguments,
    FindBookingArguments,
    RescheduleBookingArguments,
)
from agentcal.providers.base import (
    Action,
    CallContext,
    Outcome,
    Provider,
    Services,
    SlotUnavailable,
    ToolSource,
    ToolSpec,
)
from agentcal.runtime.models import ToolCallRecord
from agentcal.settings import Settings
from tests.factories import Tenant, create_tenant

FUNCTION_ID = uuid.UUID("00000000-0000-4000-8000-00000000e1e1")
LINKED_BOTS: set[uuid.UUID] = set()


@dataclass
class EchoRuntime:
    services: Services
    bookings: int = 0

    async def aclose(self) -> None:
        pass


def _source(bot_id: uuid.UUID) -> ToolSource:
    return ToolSource(
        kind="echo",
        function_id=FUNCTION_ID,
        bot_id=bot_id,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        title="Meeting Room",
        prompt="Book the meeting room.",
        timezone="Europe/Lisbon",
        owner="the meeting room",
        inactive=None,
        availability_off=None,
        booking_off=None,
        words={},
        row=None,
    )


async def _linked(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> Sequence[ToolSource]:
    return [_source(bot_id)] if bot_id in LINKED_BOTS else []


async def _load(
    session: AsyncSession, institution_id: uuid.UUID, function_id: uuid.UUID
) -> ToolSource | None:
    if function_id != FUNCTION_ID or not LINKED_BOTS:
        raise NotFound("echo calendar", function_id)
    return _source(next(iter(LINKED_BOTS)))


async def _check(
    runtime: EchoRuntime, spec: ToolSpec, args: CheckAvailabilityArguments, call: CallContext
) -> Outcome:
    return Outcome(f"The room is free all day on {args.start_date}.", {"day": args.start_date})


class RoomBookingArguments(CreateBookingArguments):
    """The room's own argument: how many seats."""

    seats: int | None = Field(None, ge=1, le=12, description="Seats to set out, 1 to 12.")


async def _book(
    runtime: EchoRuntime, spec: ToolSpec, args: RoomBookingArguments, call: CallContext
) -> Outcome:
    if args.start.endswith("T13:00"):
        raise SlotUnavailable("13:00 is lunch.", data={"alternatives": []})
    runtime.bookings += 1
    booking = f"echo-{runtime.bookings}"
    data = {"bookingId": booking, "seats": args.seats or 1}
    return Outcome(f"Booked for {args.attendee_name}.", data, booking)


async def _cancel(
    runtime: EchoRuntime, spec: ToolSpec, args: CancelBookingArguments, call: CallContext
) -> Outcome:
    return Outcome("Cancelled.", {"bookingId": args.booking_id}, args.booking_id)


async def _move(
    runtime: EchoRuntime, spec: ToolSpec, args: RescheduleBookingArguments, call: CallContext
) -> Outcome:
    return Outcome("Moved.", {"bookingId": args.booking_id}, args.booking_id)


async def _find(
    runtime: EchoRuntime, spec: ToolSpec, args: FindBookingArguments, call: CallContext
) -> Outcome:
    return Outcome("No bookings.", {"bookings": []})


ECHO = Provider(
    kind="echo",
    label="Echo Rooms",
    noun="room",
    router=APIRouter(prefix="/api/v1/echo/rooms"),
    tables=frozenset(),
    linked=_linked,
    load=_load,
    arguments={
        Action.CHECK_AVAILABILITY: CheckAvailabilityArguments,
        Action.CREATE_BOOKING: RoomBookingArguments,
        Action.CANCEL_BOOKING: CancelBookingArguments,
        Action.RESCHEDULE_BOOKING: RescheduleBookingArguments,
        Action.FIND_BOOKING: FindBookingArguments,
    },
    handlers={
        Action.CHECK_AVAILABILITY: _check,
        Action.CREATE_BOOKING: _book,
        Action.CANCEL_BOOKING: _cancel,
        Action.RESCHEDULE_BOOKING: _move,
        Action.FIND_BOOKING: _find,
    },
    start=lambda settings, services: EchoRuntime(services),
)


@pytest.fixture
async def echo_app(
    engine: AsyncEngine, settings: Settings, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FastAPI]:
    monkeypatch.setitem(registry.PROVIDERS, "echo", ECHO)
    application = create_app(settings, keyring=keyring)
    async with application.router.lifespan_context(application):
        yield application
    LINKED_BOTS.clear()


@pytest.fixture
async def echo_bot(echo_app: FastAPI) -> tuple[Tenant, str]:
    tenant = await create_tenant(echo_app, "Echo Institute", "Rooms")
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Receptionist", "unitId": tenant.unit_id}
    )
    assert response.status_code == 201, response.text
    bot_id = response.json()["id"]
    LINKED_BOTS.add(uuid.UUID(bot_id))
    return tenant, bot_id


async def test_its_tools_are_listed_in_every_format(echo_bot: tuple[Tenant, str]) -> None:
    tenant, bot_id = echo_bot
    names = set()
    for tool_format in ("openai", "anthropic", "mcp"):
        response = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools?format={tool_format}")
        assert response.status_code == 200, response.text
        tools = response.json()["tools"]
        found = {t["function"]["name"] if tool_format == "openai" else t["name"] for t in tools}
        names.add(frozenset(found))
        if tool_format == "mcp":
            titles = {t["title"] for t in tools}
            assert "Book a meeting (Echo Rooms: Meeting Room)" in titles
    assert names == {frozenset(f"{action}_meeting_room" for action in Action)}, (
        "the same names in every format"
    )
    openai = (await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")).json()["tools"]
    check = next(t for t in openai if t["function"]["name"] == "check_availability_meeting_room")
    description = check["function"]["description"]
    assert description.startswith("Finds the free times to book on the meeting room;")
    assert (
        "Europe/Lisbon" in check["function"]["parameters"]["properties"]["timeZone"]["description"]
    )


async def test_its_calls_run_its_handlers_and_are_replayed_and_audited(
    echo_app: FastAPI, echo_bot: tuple[Tenant, str]
) -> None:
    tenant, bot_id = echo_bot
    call = {
        "id": "echo-call-1",
        "name": "create_booking_meeting_room",
        "arguments": {
            "start": "2030-01-07T10:00",
            "attendeeName": "Ana",
            "attendeeEmail": "ana@example.com",
        },
    }
    lunch = {
        **call,
        "id": "echo-call-2",
        "arguments": {**call["arguments"], "start": "2030-01-07T13:00"},
    }
    first = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call, lunch]}
    )
    again = await tenant.api.post(f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]})

    assert first.status_code == again.status_code == 200, (first.text, again.text)
    booked, refused = first.json()["results"]
    assert booked["ok"] is True
    assert booked["content"] == "Booked for Ana."
    assert again.json()["results"][0] == booked, "a repeat replays the first result"
    assert echo_app.state.runtime.providers["echo"].bookings == 1, "and never runs it again"
    assert refused["ok"] is False
    assert refused["error"] == {
        "code": "slot_unavailable",
        "message": "13:00 is lunch.",
        "retryable": False,
    }
    async with echo_app.state.sessionmaker() as session:
        records = (
            await session.execute(
                select(ToolCallRecord.function_kind, ToolCallRecord.call_id, ToolCallRecord.outcome)
            )
        ).all()
    # Both calls audited once (the replay is not a call), under the provider's kind.
    assert sorted(tuple(r) for r in records) == [
        ("echo", "echo-call-1", "ok"),
        ("echo", "echo-call-2", "slot_unavailable"),
    ]


async def test_its_functions_get_the_tools_and_call_routes(echo_bot: tuple[Tenant, str]) -> None:
    tenant, _ = echo_bot
    tools = await tenant.api.get(f"/api/v1/echo/rooms/{FUNCTION_ID}/tools?format=anthropic")
    assert tools.status_code == 200, tools.text
    assert len(tools.json()["tools"]) == len(Action)
    answer = await tenant.api.post(
        f"/api/v1/echo/rooms/{FUNCTION_ID}/call",
        json={"name": "check_availability", "arguments": {"startDate": "2030-01-07"}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"] == "The room is free all day on 2030-01-07."
    missing = await tenant.api.get(f"/api/v1/echo/rooms/{uuid.uuid4()}/tools")
    assert missing.status_code == 404


async def test_its_arguments_are_its_own_models(echo_bot: tuple[Tenant, str]) -> None:
    tenant, bot_id = echo_bot
    tools = (await tenant.api.get(f"/api/v1/bots/{bot_id}/tools?format=anthropic")).json()
    book = next(t for t in tools["tools"] if t["name"] == "create_booking_meeting_room")
    seats = book["input_schema"]["properties"]["seats"]
    assert seats == {"type": "integer", "description": "Seats to set out, 1 to 12.",
                     "minimum": 1, "maximum": 12}  # fmt: skip
    arguments = {"start": "2030-01-07T10:00", "attendeeName": "Ana",
                 "attendeeEmail": "ana@example.com"}  # fmt: skip
    calls = [
        {"name": "create_booking_meeting_room", "arguments": {**arguments, "seats": 20}},
        {"name": "create_booking_meeting_room", "arguments": {**arguments, "seats": 4}},
        {"name": "create_booking_meeting_room", "arguments": {"start": "2030-01-07T10:00"}},
    ]
    response = await tenant.api.post(f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": calls})
    too_many, four, missing = response.json()["results"]
    assert too_many["error"]["code"] == "invalid_arguments"
    assert too_many["content"] == "seats must be a whole number from 1 to 12"
    assert four["data"]["seats"] == 4
    assert missing["content"] == "attendeeName is required"


def test_a_provider_that_lacks_an_action_is_refused_when_built() -> None:
    with pytest.raises(TypeError, match="reschedule_booking"):
        Provider(
            kind="half",
            label="Half",
            noun="thing",
            router=APIRouter(prefix="/api/v1/half"),
            tables=frozenset(),
            linked=_linked,
            load=_load,
            arguments={a: ECHO.arguments[a] for a in Action},
            handlers={a: h for a, h in ECHO.handlers.items() if a is not Action.RESCHEDULE_BOOKING},
            start=ECHO.start,
        )
