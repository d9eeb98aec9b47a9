"""Helpers for the Google Calendar tests: sandbox accounts, clients with fast retry policies."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from agentcal.providers.google_calendar.client import GoogleCalendarClient, NewEvent
from agentcal.providers.http import RetryPolicy
from agentcal.sandbox.google import CLIENT_ID, CLIENT_SECRET
from tests.conftest import SandboxServer

# Fast, so that retries and budgets cost the suite fractions of a second.
FAST = RetryPolicy(
    attempts=4, budget=3.0, request_timeout=1.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0
)


@dataclass(frozen=True)
class Account:
    email: str
    google_id: str
    access_token: str
    refresh_token: str


async def new_account(
    sandbox: SandboxServer, time_zone: str = "America/Sao_Paulo", *, email: str | None = None
) -> Account:
    """A fresh sandbox Google account, so no test sees another's events or tokens."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.post(
            "/sandbox/google/accounts", json={"email": email, "timeZone": time_zone}
        )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(email, body["googleId"], body["accessToken"], body["refreshToken"])


async def add_calendar(sandbox: SandboxServer, owner: Account, summary: str = "Team") -> str:
    """A secondary calendar of the sandbox account `owner`: its id."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.post(
            "/sandbox/google/calendars", json={"owner": owner.email, "summary": summary}
        )
    assert response.status_code == 201, response.text
    calendar_id: str = response.json()["id"]
    return calendar_id


def google_client(
    sandbox: SandboxServer,
    *,
    policy: RetryPolicy = FAST,
    transport: httpx.AsyncBaseTransport | None = None,
    client_secret: str = CLIENT_SECRET,
) -> GoogleCalendarClient:
    return GoogleCalendarClient(
        f"{sandbox.url}/google/calendar/v3",
        f"{sandbox.url}/google/token",
        CLIENT_ID,
        client_secret,
        transport=transport,
        policy=policy,
        token_policy=policy,
    )


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, counting the requests that leave the client by `METHOD path`."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent[f"{request.method} {request.url.path}"] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Real HTTP, but the first answer to `method` is replaced by a 503 after Google acted:
    the case where a write happened and the client never heard of it."""

    def __init__(self, method: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._method = method
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == self._method and not self.lost:
            self.lost += 1
            await response.aread()
            await response.aclose()
            return httpx.Response(503, json={"error": {"code": 503, "message": "lost"}})
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def days_ahead_at(hour: int, days_ahead: int = 7) -> datetime:
    """A UTC time `days_ahead` days from now at `hour`:00, for events in the future."""
    day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days_ahead)
    return day.replace(hour=hour)


def meeting(start: datetime, minutes: int = 30, **overrides: object) -> NewEvent:
    fields: dict[str, object] = {
        "summary": "Consultation with Maria Silva",
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "time_zone": "America/Sao_Paulo",
        "description": "Booked by agentcal",
        "attendees": [{"email": "maria.silva@example.org", "display_name": "Maria Silva"}],
    }
    fields.update(overrides)
    return NewEvent.model_validate(fields)
