"""Fixtures of the provider tests beside those of tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.settings import Settings
from tests.factories import Tenant, create_tenant

# Availability answers fresh for a second, a provider answer awaited for 0.2 s: what a
# test of the deadline can wait out in a few seconds.
QUICK_FRESH_SECONDS = 1.0
QUICK_DEADLINE_MS = 200


@pytest.fixture
async def quick_tenant(
    engine: AsyncEngine, settings: Settings, keyring: Keyring
) -> AsyncIterator[Tenant]:
    """A tenant of an app of its own whose availability answers go stale within a second
    and whose provider requests have a 0.2 s deadline (the suite's app keeps 30 s, 1.2 s)."""
    quick = settings.model_copy(
        update={
            "availability_fresh_seconds": QUICK_FRESH_SECONDS,
            "availability_deadline_ms": QUICK_DEADLINE_MS,
        }
    )
    app = create_app(quick, keyring=keyring)
    async with app.router.lifespan_context(app):
        yield await create_tenant(app, "Quick Clinics", "Front desk")
