"""Cal.com, as the registry lists it."""

from __future__ import annotations

from agentcal.providers.base import Provider, handlers_in
from agentcal.providers.calcom import bookings, tools
from agentcal.providers.calcom.endpoints import router

PROVIDER = Provider(
    kind=tools.KIND,
    label="Cal.com",
    noun="integration",
    router=router,
    tables=frozenset({"calcom_integrations"}),
    linked=tools.linked,
    load=tools.load,
    arguments=tools.ARGUMENTS,
    handlers=handlers_in(bookings),
    start=bookings.start,
)
