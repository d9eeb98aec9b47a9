"""Sandbox faults: `delay-after` handles a request at once and holds its answer back."""

from __future__ import annotations

import asyncio

import httpx

from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.sandbox.faults import parse_header
from tests.conftest import SandboxServer
from tests.support import next_monday, wait_until

BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {DEMO_API_KEY}"}


def test_the_header_form_reads_delay_after() -> None:
    fault = parse_header("delay-after=250; latency=10")
    assert fault.delay_after_ms == 250
    assert fault.latency_ms == 10
    assert fault.status is None


async def test_a_delayed_answer_comes_after_the_provider_has_acted(
    sandbox: SandboxServer,
) -> None:
    """The moment a crash is most harmful: the booking exists, its answer has not come."""
    body = {
        "start": f"{next_monday().isoformat()}T13:00:00Z",
        "eventTypeId": sandbox.calcom.users[DEMO_USERNAME].event_types[0].id,
        "attendee": {"name": "Ada", "email": "ada@example.com", "timeZone": "UTC"},
    }
    async with httpx.AsyncClient(base_url=sandbox.url) as admin:
        added = await admin.post(
            "/sandbox/faults",
            json={"pathPrefix": "/calcom/v2/bookings", "methods": ["POST"], "delayAfterMs": 60_000},
        )
        assert added.status_code == 201, added.text
    async with httpx.AsyncClient(base_url=sandbox.url, headers=BOOKINGS, timeout=90) as http:
        booking = asyncio.create_task(http.post("/calcom/v2/bookings", json=body))
        try:
            await wait_until(lambda: len(sandbox.calcom.bookings) == 1)
            assert not booking.done()  # booked, and the answer is still held back
        finally:
            booking.cancel()
    assert not sandbox.state.faults.rules  # used up
