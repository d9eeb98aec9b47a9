"""The notification worker, wired to the providers that say where notifications go."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.crypto.keyring import Keyring
from agentcal.notifications.outbox import Claimed
from agentcal.notifications.senders import Destination, Undeliverable
from agentcal.notifications.worker import Destinations, Worker
from agentcal.providers import registry
from agentcal.settings import Settings


def destinations(keyring: Keyring) -> Destinations:
    """Where a claimed notification goes: asked of its function's provider."""

    async def load(session: AsyncSession, row: Claimed) -> Destination:
        try:
            provider = registry.get(row.function_kind)
        except registry.UnknownProvider:
            raise Undeliverable(f"no provider {row.function_kind!r} in this version") from None
        if provider.destination is None:
            raise Undeliverable(f"{provider.label} functions send no notifications")
        return await provider.destination(session, keyring, row.institution_id, row.function_id)

    return load


def worker(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    keyring: Keyring,
) -> Worker:
    return Worker(settings, engine, sessionmaker, keyring, destinations(keyring))
