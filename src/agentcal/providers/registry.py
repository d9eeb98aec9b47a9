"""Every provider agentcal knows, by kind. Adding a provider is one entry here."""

from __future__ import annotations

from collections.abc import Iterator

from agentcal.errors import AgentcalError
from agentcal.providers.base import Provider
from agentcal.providers.calcom.provider import PROVIDER as CALCOM
from agentcal.providers.google_calendar.provider import PROVIDER as GOOGLE_CALENDAR

# In the order their tools and routes appear.
PROVIDERS: dict[str, Provider] = {p.kind: p for p in (CALCOM, GOOGLE_CALENDAR)}


class UnknownProvider(AgentcalError):
    status_code = 500
    slug = "unknown-provider"


def get(kind: str) -> Provider:
    """The provider of `kind`; a kind no provider claims is a bug, not the caller's mistake."""
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise UnknownProvider(f"no provider of kind {kind!r} is registered") from None


def providers() -> Iterator[Provider]:
    return iter(PROVIDERS.values())


def tables() -> frozenset[str]:
    """The tables every provider's functions are read from."""
    return frozenset(t for p in PROVIDERS.values() for t in p.tables)
