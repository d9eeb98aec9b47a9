"""Helpers of the notification tests: a function that notifies, bookings, the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from agentcal.db.engine import session_scope, utcnow
from agentcal.notifications import outbox
from agentcal.notifications.events import BookingFacts, Notification
from agentcal.notifications.models import NotificationRecord
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.google_calendar.functions_support import body_for
from tests.providers.google_calendar.support import new_account
from tests.support import next_monday, wait_until


@dataclass
class Notifying:
    """A Google Calendar function with notification settings, on a sandbox account."""

    tenant: Tenant
    function_id: str
    secret: str | None  # the webhook signing secret, as the create answer showed it

    async def call(self, action: str, arguments: dict[str, Any]) -> dict[str, Any]:
        response = await self.tenant.api.post(
            f"/api/v1/functions/{self.function_id}/call",
            json={"id": uuid.uuid4().hex, "name": action, "arguments": arguments},
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def book(self, hhmm: str = "10:00", **extra: Any) -> dict[str, Any]:
        arguments = {
            "start": f"{next_monday().isoformat()}T{hhmm}",
            "attendeeName": "Maria Silva",
            "attendeeEmail": "maria@example.com",
            "title": "Consulta",
            **extra,
        }
        booked = await self.call("create_booking", arguments)
        assert booked["ok"] is True, booked
        return booked

    async def listed(self, **query: str) -> list[dict[str, Any]]:
        response = await self.tenant.api.get(
            "/api/v1/notifications", params={"functionId": self.function_id, **query}
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


async def save_function(tenant: Tenant, sandbox: SandboxServer, **calendar: Any) -> httpx.Response:
    """`POST /api/v1/functions/` on a fresh sandbox account, with these `googleCalendar`
    settings: the answer as it came, for a test to judge."""
    account = await new_account(sandbox)
    settings = {
        "googleId": account.google_id,
        "calendarId": account.email,
        "googleToken": account.access_token,
        "googleRefreshToken": account.refresh_token,
        **calendar,
    }
    return await tenant.api.post(
        "/api/v1/functions/", json=body_for(tenant, googleCalendar=settings)
    )


async def notifying(
    tenant: Tenant, sandbox: SandboxServer, kind: str, target: str, **settings: Any
) -> Notifying:
    """Create the function as an integrator does; keep the secret its answer shows once."""
    # No template unless given: the default of the content type.
    created = await save_function(
        tenant,
        sandbox,
        **{"notificationContent": None, **settings},
        notificationType=kind,
        notificationTarget=target,
    )
    assert created.status_code == 201, created.text
    function = created.json()
    secret = function["googleCalendarPlugin"][0]["notificationSecret"]
    return Notifying(tenant, function["id"], secret)


def sink_url(sandbox: SandboxServer, name: str) -> str:
    return f"{sandbox.url}/sandbox/webhooks/{name}"


async def rows(app: FastAPI) -> list[NotificationRecord]:
    async with session_scope(app.state.sessionmaker) as session:
        return list(await session.scalars(select(NotificationRecord)))


async def enqueue_many(app: FastAPI, tenant: Tenant, function_id: str, count: int) -> None:
    """`count` notifications of a booking, due now, straight into the outbox."""
    now = utcnow()
    facts = BookingFacts("evt", now + timedelta(days=1), now + timedelta(days=1, hours=1), "UTC")
    notification = Notification("booking.created", "webhook", "text", 0, 0, facts)
    origin = outbox.Origin(
        uuid.UUID(tenant.institution_id), "google_calendar", uuid.UUID(function_id), None, now
    )
    async with app.state.engine.begin() as connection:
        await outbox.enqueue(
            connection, app.state.keyring, origin, [notification] * count, give_up_after=3600
        )


async def rows_when(
    app: FastAPI, condition: Callable[[list[NotificationRecord]], bool]
) -> list[NotificationRecord]:
    """The outbox's rows, once `condition` holds of them (within 10 s)."""
    found: list[NotificationRecord] = []

    async def held() -> bool:
        nonlocal found
        found = await rows(app)
        return condition(found)

    await wait_until(held, timeout=10, interval=0.05)
    return found
