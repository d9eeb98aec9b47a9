"""What the catalog needs of a Cal.com integration: its tool source and argument models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.providers.arguments import (
    CancelBookingArguments,
    CheckAvailabilityArguments,
    CreateBookingArguments,
    FindBookingArguments,
    RescheduleBookingArguments,
)
from agentcal.providers.base import (
    AVAILABILITY_OFF,
    BOOKING_OFF,
    Action,
    ToolArguments,
    ToolSource,
    one_line,
)
from agentcal.providers.calcom.models import CalcomIntegration
from agentcal.providers.calcom.service import get_integration
from agentcal.scheduling.speech import translatable

KIND = "calcom"
# Why its tools are all off, said in the bot's language when one is called.
INACTIVE = translatable("the integration is inactive (isActive: false)")
EVENT_TYPE = (
    "Slug of the Cal.com event type, the kind of meeting (e.g. 30min); by default "
    "{default_event_type}."
)


class CalcomAvailabilityArguments(CheckAvailabilityArguments):
    event_type_slug: str | None = Field(None, description=EVENT_TYPE)


class CalcomBookingArguments(CreateBookingArguments):
    event_type_slug: str | None = Field(None, description=EVENT_TYPE)


ARGUMENTS: dict[Action, type[ToolArguments]] = {
    Action.CHECK_AVAILABILITY: CalcomAvailabilityArguments,
    Action.CREATE_BOOKING: CalcomBookingArguments,
    Action.CANCEL_BOOKING: CancelBookingArguments,
    Action.RESCHEDULE_BOOKING: RescheduleBookingArguments,
    Action.FIND_BOOKING: FindBookingArguments,
}


def source(row: CalcomIntegration) -> ToolSource:
    if row.default_event_type_slug:
        default = f"{row.default_event_type_slug}, the integration's default"
    elif row.default_event_type_id is not None:
        default = "the integration's default event type"
    else:
        default = "the user's only event type (if there are several, the error lists their slugs)"
    return ToolSource(
        kind=KIND,
        function_id=row.id,
        bot_id=row.bot_id,
        created_at=row.created_at,
        title=row.title,
        prompt=row.prompt,
        timezone=row.timezone,
        owner=f'the Cal.com calendar "{one_line(row.title)}" of user {row.calcom_username}',
        inactive=None if row.is_active else INACTIVE,
        availability_off=None if row.check_availability_enabled else AVAILABILITY_OFF,
        booking_off=None if row.create_booking_enabled else BOOKING_OFF,
        words={"default_event_type": default},
        row=row,
    )


async def linked(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> Sequence[ToolSource]:
    rows = await session.scalars(
        select(CalcomIntegration).where(
            CalcomIntegration.institution_id == institution_id,
            CalcomIntegration.bot_id == bot_id,
        )
    )
    return [source(row) for row in rows]


async def load(
    session: AsyncSession, institution_id: uuid.UUID, integration_id: uuid.UUID
) -> ToolSource:
    return source(await get_integration(session, institution_id, integration_id))
