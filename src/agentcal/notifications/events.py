"""What a booking change tells the outbox: the event, the booking's facts, the settings.

A provider's handler says, in its `Outcome`, which notification its function's settings
ask for (`Notification`); the runtime writes it to the outbox with the call's audit
record. Everything the delivery needs later is in it, rendered once, so a delivery
reads the booking as it was when the call changed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

EventType = Literal["booking.created", "booking.cancelled", "booking.rescheduled"]
EVENTS: tuple[EventType, ...] = ("booking.created", "booking.cancelled", "booking.rescheduled")


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """The booking a notification is about, in the function's timezone."""

    booking_id: str
    start: datetime
    end: datetime
    time_zone: str
    attendee_name: str | None = None
    attendee_email: str | None = None
    title: str | None = None
    meet_link: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """What a function's notification settings say about one booking change.

    `wait_for_speech_ms` tells a voice channel how long to wait before it speaks the
    result; `delay_ms` how long the outbox holds the delivery back.
    """

    event: EventType
    type: str  # webhook, discord, telegram
    content_type: str  # text, json
    delay_ms: int
    wait_for_speech_ms: int
    booking: BookingFacts | None = None
    template: str | None = None  # None: the default of the content type
    locale: str = "en"  # babel's name of the bot's language (pt_BR): dates and the default text

    def to_json(self) -> dict[str, Any]:
        """As each tool result states it (`notifications`)."""
        return {
            "event": self.event,
            "type": self.type,
            "contentType": self.content_type,
            "delayMs": self.delay_ms,
            "waitForSpeechMs": self.wait_for_speech_ms,
        }
