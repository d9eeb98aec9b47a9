"""What the catalog needs of a Google Calendar function: its tool source and argument models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from agentcal.kit.validation import is_email
from agentcal.providers.arguments import (
    ATTENDEE_EMAIL,
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
    tool_argument_error,
)
from agentcal.providers.google_calendar.models import Function
from agentcal.providers.google_calendar.service import get_function
from agentcal.scheduling.speech import say, translatable

KIND = "google_calendar"
# Why its tools are all off, said in the bot's language when one is called.
INACTIVE = translatable("the function is inactive (isActivated: false)")
# Meeting lengths a model may ask for, as for `slotMinutes`.
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 480
DURATION = (
    f"Length of the meeting in minutes, {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES}; "
    "by default {slot_minutes}."
)


def _email(value: str) -> str:
    # Google would invite whatever it is given; a model sometimes passes a name.
    if not is_email(value):
        raise tool_argument_error(
            say(
                "attendeeEmail {value} is not an e-mail address; ask the person for theirs.",
                value=repr(value),
            )
        )
    return value


Email = Annotated[str, AfterValidator(_email)]
Duration = Annotated[
    int | None, Field(ge=MIN_DURATION_MINUTES, le=MAX_DURATION_MINUTES, description=DURATION)
]


class GoogleAvailabilityArguments(CheckAvailabilityArguments):
    duration_minutes: Duration = None


class GoogleBookingArguments(CreateBookingArguments):
    attendee_email: Email = Field(
        description="E-mail address of that person; the invitation goes there."
    )
    duration_minutes: Duration = None
    title: str | None = Field(
        None, description="Title of the calendar event; by default one naming the attendee."
    )


class GoogleCancelArguments(CancelBookingArguments):
    attendee_email: Email | None = Field(None, description=ATTENDEE_EMAIL)


class GoogleRescheduleArguments(RescheduleBookingArguments):
    attendee_email: Email | None = Field(None, description=ATTENDEE_EMAIL)


class GoogleFindArguments(FindBookingArguments):
    attendee_email: Email | None = Field(None, description="E-mail address of the attendee.")


ARGUMENTS: dict[Action, type[ToolArguments]] = {
    Action.CHECK_AVAILABILITY: GoogleAvailabilityArguments,
    Action.CREATE_BOOKING: GoogleBookingArguments,
    Action.CANCEL_BOOKING: GoogleCancelArguments,
    Action.RESCHEDULE_BOOKING: GoogleRescheduleArguments,
    Action.FIND_BOOKING: GoogleFindArguments,
}


def source(row: Function) -> ToolSource | None:
    plugin = row.google_calendar
    if plugin is None:  # only while a concurrent DELETE removes the function
        return None
    user = plugin.google_user
    person = one_line(str(user.get("name") or user.get("email") or plugin.calendar_id))
    return ToolSource(
        kind=KIND,
        function_id=row.id,
        bot_id=row.bot_id,
        created_at=row.created_at,
        title=row.name,
        prompt=row.description,
        timezone=plugin.timezone,
        owner=f"{person}'s Google Calendar ({plugin.calendar_id})",
        inactive=None if row.is_activated else INACTIVE,
        availability_off=None if plugin.check_availability_enabled else AVAILABILITY_OFF,
        booking_off=None if plugin.create_booking_enabled else BOOKING_OFF,
        words={"slot_minutes": str(plugin.slot_minutes)},
        row=row,
    )


async def linked(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> Sequence[ToolSource]:
    rows = await session.scalars(
        select(Function)
        .options(joinedload(Function.google_calendar))
        .where(Function.institution_id == institution_id, Function.bot_id == bot_id)
    )
    return [s for s in map(source, rows) if s is not None]


async def load(
    session: AsyncSession, institution_id: uuid.UUID, function_id: uuid.UUID
) -> ToolSource | None:
    return source(await get_function(session, institution_id, function_id))
