"""Workers for the notification tests, started and stopped by each test that needs one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from agentcal.notifications.worker import Worker
from agentcal.runtime import deliveries
from agentcal.settings import Settings

# Fast enough for tests: retries after ~0.3 s, then ~0.5 s; an idle worker looks twice
# a second at most (a commit in this process wakes it at once).
FAST: dict[str, Any] = {
    "notification_retry_seconds": "0.3,0.5",
    "notification_poll_seconds": 0.5,
    "notification_lease_seconds": 4.0,
    "notification_timeout_seconds": 2.0,
}


@pytest.fixture
def lab(app: FastAPI, settings: Settings) -> Iterator[Settings]:
    """The app allows private targets (the sandbox is on loopback), as a lab would."""
    allowed = settings.model_copy(update={"notifications_allow_private": True, **FAST})
    app.state.settings = allowed
    try:
        yield allowed
    finally:
        app.state.settings = settings


@pytest.fixture
async def start_worker(app: FastAPI, settings: Settings) -> AsyncIterator[Callable[..., Worker]]:
    """Start workers on the app's database (private targets allowed unless told);
    every one is stopped when the test ends."""
    started: list[Worker] = []

    def start(**overrides: Any) -> Worker:
        configured = settings.model_copy(
            update={"notifications_allow_private": True, **FAST, **overrides}
        )
        worker = deliveries.worker(
            configured, app.state.engine, app.state.sessionmaker, app.state.keyring
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()
