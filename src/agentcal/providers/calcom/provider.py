"""Cal.com, as the registry lists it."""

from __future__ import annotations

from agentcal.providers.base import Action, Provider
from agentcal.providers.calcom import bookings, tools
from agentcal.providers.calcom.endpoints import router

PROVIDER = Provider(
    kind=tools.KIND,
    label="Cal.com",
    noun="integration",
    path="/api/v1/calcom/integration",
    router=router,
    tables=frozenset({"calcom_integrations"}),
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
