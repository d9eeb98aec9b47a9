"""Google Calendar, as the registry lists it."""

from __future__ import annotations

from agentcal.providers.base import Provider, handlers_in
from agentcal.providers.google_calendar import bookings, notifications, tools
from agentcal.providers.google_calendar.endpoints import router

PROVIDER = Provider(
    kind=tools.KIND,
    label="Google Calendar",
    noun="function",
    router=router,
    tables=frozenset({"functions", "google_calendar_plugins"}),
    linked=tools.linked,
    load=tools.load,
    arguments=tools.ARGUMENTS,
    handlers=handlers_in(bookings),
    start=bookings.start,
    destination=notifications.destination,
)
