"""Helpers of the bookings-index tests: the index's rows, read straight from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.bookings.models import BookingEntry


async def index_rows(engine: AsyncEngine) -> list[Any]:
    """Every entry of the bookings index, soonest first."""
    table = BookingEntry.__table__
    async with engine.connect() as connection:
        result = await connection.execute(select(table).order_by(table.c.start_at))
        return list(result.all())
