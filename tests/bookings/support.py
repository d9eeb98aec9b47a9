"""Helpers of the bookings tests: the index's rows, read straight from the database, and
calls of a bot's tools that book and find bookings (on any provider)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.bookings.models import BookingEntry
from tests.factories import Tenant
from tests.support import next_monday


async def index_rows(engine: AsyncEngine) -> list[Any]:
    """Every entry of the bookings index, soonest first."""
    table = BookingEntry.__table__
    async with engine.connect() as connection:
        result = await connection.execute(select(table).order_by(table.c.start_at))
        return list(result.all())


# ------------------------------------------------- finding bookings through a bot's tools


SAO_PAULO = ZoneInfo("America/Sao_Paulo")
PHONE = "+5511987654321"
SPELLINGS = ["+5511987654321", "+55 11 98765-4321", "(11) 98765-4321"]


class Calendar(Protocol):
    """A calendar on a bot of its own, whatever its provider."""

    @property
    def bot_id(self) -> str: ...

    @property
    def names(self) -> dict[str, str]:  # action → tool name
        ...


async def call(tenant: Tenant, calendar: Calendar, action: str, **arguments: Any) -> Any:
    """One call of the calendar's tool for `action` through the REST API; its result,
    whose content fits in a result."""
    tool_call = {"id": uuid.uuid4().hex, "name": calendar.names[action], "arguments": arguments}
    response = await tenant.api.post(
        f"/api/v1/bots/{calendar.bot_id}/tool-calls", json={"toolCalls": [tool_call]}
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert len(result["content"]) <= 600
    return result


def at(hhmm: str) -> str:
    """A start next Monday, as a caller gives it: local, without an offset."""
    return f"{next_monday().isoformat()}T{hhmm}"


def when(hhmm: str) -> datetime:
    """That start in São Paulo, every test calendar's zone."""
    return datetime.fromisoformat(at(hhmm)).replace(tzinfo=SAO_PAULO)


def local(hhmm: str) -> str:
    """The start as results write it: local ISO with the offset."""
    return when(hhmm).isoformat()


async def book(
    tenant: Tenant, calendar: Calendar, hhmm: str, email: str = "maria@example.com", **more: Any
) -> str:
    """A booking of Maria Silva (or of `email`) at `hhmm` next Monday; its id."""
    result = await call(
        tenant,
        calendar,
        "create_booking",
        start=at(hhmm),
        attendeeName="Maria Silva",
        attendeeEmail=email,
        **more,
    )
    assert result["ok"] is True, result
    return str(result["data"]["bookingId"])


def found(result: dict[str, Any]) -> list[tuple[str, str]]:
    """What `find_booking` answered: (booking id, local start) of each booking."""
    assert result["ok"] is True, result
    return [(b["bookingId"], b["start"]) for b in result["data"]["bookings"]]
