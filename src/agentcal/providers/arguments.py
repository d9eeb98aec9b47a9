"""The arguments every provider's tools take, one model per action.

A provider subclasses them to add its own (Cal.com's `eventTypeSlug`, Google's
`durationMinutes`); new fields come after these, in the order the catalog lists them.
Descriptions are templates (see `ToolArguments`): `{timezone}` is the function's zone,
`{date_forms}` and `{time_forms}` the forms a date or a time may take, in words.
"""

from __future__ import annotations

from pydantic import Field

from agentcal.providers.base import ToolArguments

MAX_RANGE_DAYS = 31  # `check_availability`: endDate at most this many days after startDate

TIME_ZONE = (
    "IANA timezone (e.g. America/New_York) of the person you are talking to: dates and "
    "times without an offset are read in it, and results are written in it; by default "
    "{timezone}, the calendar's."
)


class CheckAvailabilityArguments(ToolArguments):
    start_date: str = Field(description="Where the search starts: {date_forms}.")
    end_date: str | None = Field(
        None,
        description=(
            "Last day to search, inclusive, as YYYY-MM-DD (startDate 2026-03-02 with "
            "endDate 2026-03-06 searches Monday to Friday), or an exact end in the forms "
            "of startDate; by default startDate's day only; at most "
            f"{MAX_RANGE_DAYS} days after startDate."
        ),
    )
    time_zone: str | None = Field(None, description=TIME_ZONE)


class CreateBookingArguments(ToolArguments):
    start: str = Field(description="Start of the meeting, one of the free times: {time_forms}.")
    attendee_name: str = Field(description="Full name of the person the meeting is for.")
    attendee_email: str = Field(
        description="E-mail address of that person; the invitation goes there."
    )
    attendee_phone: str | None = Field(
        None,
        description="Their phone number in international format (e.g. +5511987654321), if given.",
    )
    time_zone: str | None = Field(None, description=TIME_ZONE)
    notes: str | None = Field(
        None,
        description="What the person wants the host to know: the reason for the meeting, "
        "questions.",
    )


class CancelBookingArguments(ToolArguments):
    booking_id: str | None = Field(
        None,
        description="The bookingId that create_booking returned; without it, give "
        "attendeeEmail and start.",
    )
    attendee_email: str | None = Field(
        None,
        description="E-mail address of the attendee, to find the booking with start when you "
        "have no bookingId.",
    )
    start: str | None = Field(
        None, description="Start of the booking to cancel, with attendeeEmail: {time_forms}."
    )
    reason: str | None = Field(None, description="Why the meeting is cancelled, in a few words.")
    time_zone: str | None = Field(None, description=TIME_ZONE)


class RescheduleBookingArguments(ToolArguments):
    booking_id: str = Field(description="The bookingId that create_booking returned.")
    new_start: str = Field(
        description="New start of the meeting, one of the free times: {time_forms}."
    )
    reason: str | None = Field(None, description="Why the meeting is moved, in a few words.")
    time_zone: str | None = Field(None, description=TIME_ZONE)
