"""Google Calendar, as the registry lists it."""

from __future__ import annotations

from agentcal.providers.base import Action, Provider
from agentcal.providers.google_calendar import bookings, tools
from agentcal.providers.google_calendar.endpoints import router

PROVIDER = Provider(
    kind=tools.KIND,
    label="Google Calendar",
    noun="function",
    path="/api/v1/functions",  # the seed's name for it
    router=router,
    tables=frozenset({"functions", "google_calendar_plugins"}),
    linked=tools.linked,
    load=tools.load,
    arguments=tools.ARGUMENTS,
    handlers={
        Action.CHECK_AVAILABILITY: bookings.check_availability,
        Action.CREATE_BOOKING: bookings.create_booking,
        Action.CANCEL_BOOKING: bookings.cancel_booking,
        Action.RESCHEDULE_BOOKING: bookings.reschedule_booking,
    },
    start=bookings.start,
)
