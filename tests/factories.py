"""Plain async factories for test data, and realistic bodies of the seeds' requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from agentcal.db.engine import session_scope
from agentcal.tenancy import service
from agentcal.tenancy.models import User


@dataclass
class Tenant:
    app: FastAPI
    institution_id: str
    unit_id: str
    user_id: str
    token: str
    email: str
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """An ASGI client that sends this tenant's (or the given) bearer token."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://agentcal.test",
            headers={"Authorization": f"Bearer {token or self.token}"},
        )

    @property
    def api(self) -> httpx.AsyncClient:
        if not self._clients:
            self._clients.append(self.client())
        return self._clients[0]


async def create_tenant(app: FastAPI, name: str, unit: str) -> Tenant:
    email = f"admin@{name.lower().replace(' ', '-')}.test"
    async with session_scope(app.state.sessionmaker) as session:
        boot = await service.bootstrap(session, name, unit, email)
    return Tenant(
        app=app,
        institution_id=str(boot.institution.id),
        unit_id=str(boot.unit.id),
        user_id=str(boot.user.id),
        token=boot.token.token,
        email=email,
    )


async def add_member(app: FastAPI, tenant: Tenant, email: str) -> tuple[User, str]:
    """A `member` user of the tenant's institution and a token for it."""
    async with session_scope(app.state.sessionmaker) as session:
        user = await service.create_user(
            session, uuid.UUID(tenant.institution_id), email, "Member", "member"
        )
        issued = await service.issue_token(session, user, "member", None)
    return user, issued.token


CALCOM_API_KEY = "cal_live_5f2b9c7e1d3a4b6c8e0f"
GOOGLE_ACCESS_TOKEN = "ya29.a0AfB_byC3xY7zQk2LmN9pR4sT6uV8wX0yZ1aB3cD5eF7gH9iJ"
GOOGLE_REFRESH_TOKEN = "1//0gLq8vR2sT4uV6wX8yZ0aB2cD4eF6gH8iJ0kL2mN4oP6qR8sT"


def calcom_body(unit_id: str, **overrides: Any) -> dict[str, Any]:
    """The seed `create-calcom-function` request, with realistic values."""
    body: dict[str, Any] = {
        "title": "Calcom",
        "unitId": unit_id,
        "apiKey": CALCOM_API_KEY,
        "calcomUsername": "dr-ana.souza",
        "timezone": "America/Sao_Paulo",
        "prompt": "Use this to check Dr. Ana's free times and book 30-minute consultations.",
        "checkAvailabilityEnabled": True,
        "createBookingEnabled": True,
    }
    body.update(overrides)
    return body


def calcom_update_body(unit_id: str, **overrides: Any) -> dict[str, Any]:
    """Toolzz's update body: the create body without `apiKey`."""
    body = calcom_body(unit_id, **overrides)
    if "apiKey" not in overrides:
        del body["apiKey"]
    return body


def google_user(**overrides: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": "109876543210987654321",
        "email": "ana.souza@clinica-exemplo.com.br",
        "verified_email": True,
        "name": "Ana Souza",
        "given_name": "Ana",
        "family_name": "Souza",
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocK-ana=s96-c",
        "hd": "clinica-exemplo.com.br",
    }
    user.update(overrides)
    return user


def google_function_body(user_id: str, unity_id: str, **overrides: Any) -> dict[str, Any]:
    """The seed `create-google-calendar-function` request, with realistic values."""
    calendar: dict[str, Any] = {
        "googleId": "109876543210987654321",
        "calendarId": "ana.souza@clinica-exemplo.com.br",
        "timezone": "America/Sao_Paulo",
        "notificationContent": "New appointment: {{attendeeName}} at {{start}}",
        "googleUser": google_user(),
        "googleToken": GOOGLE_ACCESS_TOKEN,
    }
    calendar.update(overrides.pop("googleCalendar", {}))
    body: dict[str, Any] = {
        "name": "Google Calendar",
        "description": "Check Dr. Ana's calendar and book appointments when a patient asks.",
        "iconFileId": None,
        "outputs": [],
        "googleCalendar": calendar,
        "type": "google-calendar",
        "userId": user_id,
        "unityId": unity_id,
    }
    body.update(overrides)
    return body
