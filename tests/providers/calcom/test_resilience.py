"""Retries, Retry-After, budgets and what is never repeated, against sandbox faults."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from agentcal.providers.calcom.client import CalcomClient
from agentcal.providers.calcom.errors import CalcomRateLimited, CalcomUnavailable
from agentcal.providers.http import PROVIDER_RETRIES, RetryPolicy
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.support import SAO_PAULO, next_monday

FAST = RetryPolicy(
    attempts=4, budget=5.0, request_timeout=2.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01
)


@pytest.fixture
async def calcom(sandbox: SandboxServer) -> AsyncIterator[CalcomClient]:
    client = CalcomClient(f"{sandbox.url}/calcom", policy=FAST)
    yield client
    await client.aclose()


def retries_of(operation: str) -> float:
    return sum(
        s.value
        for m in PROVIDER_RETRIES.collect()
        for s in m.samples
        if s.name.endswith("_total")
        and s.labels["operation"] == operation
        and s.labels["provider"] == "calcom"
    )


async def _slots(calcom: CalcomClient) -> int:
    monday = next_monday()
    slots = await calcom.slots(
        DEMO_API_KEY,
        start=monday,
        end=monday + timedelta(days=1),
        time_zone="UTC",
        event_type_slug="30min",
        username=DEMO_USERNAME,
    )
    return len(slots)


async def test_429_with_retry_after_is_waited_out_then_succeeds(
    calcom: CalcomClient, sandbox: SandboxServer
) -> None:
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/slots", status=429, retry_after=0.4)
    )
    before = retries_of("slots")
    started = time.monotonic()
    assert await _slots(calcom) == 18
    assert time.monotonic() - started >= 0.4  # it honoured Retry-After
    assert retries_of("slots") == before + 1


async def test_503_twice_then_success(calcom: CalcomClient, sandbox: SandboxServer) -> None:
    sandbox.state.faults.rules.append(Fault(path_prefix="/calcom/v2/slots", status=503, times=2))
    before = retries_of("slots")
    assert await _slots(calcom) == 18
    assert retries_of("slots") == before + 2
    assert sandbox.state.faults.rules == []


async def test_a_hanging_provider_ends_in_a_clear_error_within_the_budget(
    sandbox: SandboxServer,
) -> None:
    policy = RetryPolicy(
        attempts=3,
        budget=1.0,
        request_timeout=0.4,
        wait_initial=0.01,
        wait_max=0.02,
        wait_jitter=0.0,
    )
    client = CalcomClient(f"{sandbox.url}/calcom", policy=policy)
    sandbox.state.faults.rules.append(Fault(path_prefix="/calcom/v2/slots", hang=True, times=-1))
    started = time.monotonic()
    try:
        with pytest.raises(CalcomUnavailable, match="did not answer in time") as raised:
            await _slots(client)
    finally:
        await client.aclose()
    assert time.monotonic() - started < 2.0
    assert raised.value.code == "upstream_unavailable"


async def test_a_retry_after_beyond_the_budget_is_reported_not_waited(
    calcom: CalcomClient, sandbox: SandboxServer
) -> None:
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/slots", status=429, retry_after=60)
    )
    started = time.monotonic()
    with pytest.raises(CalcomRateLimited) as raised:
        await _slots(calcom)
    assert time.monotonic() - started < 1.0
    assert raised.value.code == "rate_limited"
    assert raised.value.headers["Retry-After"] == "60"


async def test_a_booking_is_not_repeated_after_a_503(
    calcom: CalcomClient, sandbox: SandboxServer
) -> None:
    """A 503 after a POST may hide a booking that was made: never blindly re-sent."""
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), status=503, times=2)
    )
    monday = next_monday()
    with pytest.raises(CalcomUnavailable):
        await calcom.create_booking(
            DEMO_API_KEY,
            start=datetime(monday.year, monday.month, monday.day, 9, 0, tzinfo=SAO_PAULO),
            attendee_name="Once",
            attendee_email="once@example.com",
            attendee_time_zone="UTC",
            event_type_slug="30min",
            username=DEMO_USERNAME,
        )
    assert sandbox.state.faults.rules[0].times == 1  # exactly one attempt reached it


async def test_a_booking_refused_with_429_is_retried(
    calcom: CalcomClient, sandbox: SandboxServer
) -> None:
    """429 means the provider did nothing: repeating is safe even for a booking."""
    sandbox.state.faults.rules.append(
        Fault(
            path_prefix="/calcom/v2/bookings",
            methods=frozenset({"POST"}),
            status=429,
            retry_after=0.1,
        )
    )
    monday = next_monday()
    booking = await calcom.create_booking(
        DEMO_API_KEY,
        start=datetime(monday.year, monday.month, monday.day, 9, 30, tzinfo=SAO_PAULO),
        attendee_name="Twice",
        attendee_email="twice@example.com",
        attendee_time_zone="UTC",
        event_type_slug="30min",
        username=DEMO_USERNAME,
    )
    assert booking.status == "accepted"
    assert len([b for b in sandbox.calcom.bookings.values() if b.uid == booking.uid]) == 1


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = CalcomClient(f"http://127.0.0.1:{port}", policy=FAST)
    before = retries_of("me")
    try:
        with pytest.raises(CalcomUnavailable, match="could not be reached"):
            await client.me(DEMO_API_KEY)
    finally:
        await client.aclose()
    assert retries_of("me") == before + FAST.attempts - 1
