"""The arguments every provider's tools take, one model per action.

A provider subclasses them to add its own (Cal.com's `eventTypeSlug`, Google's
`durationMinutes`); new fields come after these, in the order the catalog lists them.
Descriptions are templates (see `ToolArguments`): `{timezone}` is the function's zone,
`{date_forms}` and `{time_forms}` the forms a date or a time may take, in words.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from agentcal.providers.base import ToolArguments, tool_argument_error
from agentcal.scheduling.speech import say

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


PHONE = (
    "Phone number of the attendee, as given (e.g. +5511987654321); one without a country "
    "code is read as a number of the calendar's country."
)
BOOKING_ID = (
    "The bookingId that create_booking or find_booking returned; without it, give "
    "attendeeEmail or attendeePhone, and start."
)
ATTENDEE_EMAIL = (
    "E-mail address of the attendee, to find the booking with start when you have no bookingId."
)


class _ByAttendee(ToolArguments):
    """A booking named by its id, or by its attendee (e-mail or phone) and start."""

    booking_id: str | None = Field(None, description=BOOKING_ID)
    attendee_email: str | None = Field(None, description=ATTENDEE_EMAIL)
    attendee_phone: str | None = Field(None, description=PHONE)
    start: str | None = Field(
        None, description="Start of the booking, with attendeeEmail or attendeePhone: {time_forms}."
    )

    @model_validator(mode="after")
    def _named(self) -> Self:
        by_attendee = self.attendee_email is not None or self.attendee_phone is not None
        if self.booking_id is None and (self.start is None or not by_attendee):
            raise tool_argument_error(
                say(
                    "Give the bookingId that create_booking or find_booking returned, or the "
                    "attendeeEmail or attendeePhone of the attendee together with the start "
                    "of the booking."
                )
            )
        return self


class CancelBookingArguments(_ByAttendee):
    start: str | None = Field(
        None,
        description="Start of the booking to cancel, with attendeeEmail or attendeePhone: "
        "{time_forms}.",
    )
    reason: str | None = Field(None, description="Why the meeting is cancelled, in a few words.")
    time_zone: str | None = Field(None, description=TIME_ZONE)


class RescheduleBookingArguments(_ByAttendee):
    start: str | None = Field(
        None,
        description="Current start of the booking to move, with attendeeEmail or "
        "attendeePhone: {time_forms}.",
    )
    new_start: str = Field(
        description="New start of the meeting, one of the free times: {time_forms}."
    )
    reason: str | None = Field(None, description="Why the meeting is moved, in a few words.")
    time_zone: str | None = Field(None, description=TIME_ZONE)


class FindBookingArguments(ToolArguments):
    attendee_phone: str | None = Field(None, description=PHONE)
    attendee_email: str | None = Field(None, description="E-mail address of the attendee.")
    time_zone: str | None = Field(None, description=TIME_ZONE)

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if self.attendee_phone is None and self.attendee_email is None:
            raise tool_argument_error(
                say("Give the attendeePhone or attendeeEmail of the person whose bookings to find.")
            )
        return self
