"""Helpers shared by the functions tests: create calls, DB reads, masks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from agentcal.db.engine import session_scope
from agentcal.providers.google_calendar.models import Function, GoogleCalendarPlugin
from tests.conftest import SandboxServer
from tests.factories import Tenant, google_function_body
from tests.providers.google_calendar.support import Account, new_account

MASK = "*" * 16
PROBLEM_JSON = "application/problem+json"
ISO_MILLIS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def body_for(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """The seed body for `tenant`'s admin and unit."""
    return google_function_body(tenant.user_id, tenant.unit_id, **overrides)


async def create(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await tenant.api.post("/api/v1/functions/", json=body_for(tenant, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def make_bot(tenant: Tenant, unit_id: str | None = None, name: str = "Reception") -> str:
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": name, "unitId": unit_id or tenant.unit_id}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_unit(tenant: Tenant, name: str = "Marketing") -> str:
    response = await tenant.api.post("/api/v1/units", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def stored_plugin(app: FastAPI, function_id: str) -> GoogleCalendarPlugin | None:
    """The plugin row of a function, read straight from the database."""
    async with session_scope(app.state.sessionmaker) as session:
        return await session.scalar(
            select(GoogleCalendarPlugin).where(
                GoogleCalendarPlugin.function_id == uuid.UUID(function_id)
            )
        )


async def stored_function(app: FastAPI, function_id: str) -> Function | None:
    async with session_scope(app.state.sessionmaker) as session:
        return await session.get(Function, uuid.UUID(function_id))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    return response.json()


def error_fields(response: httpx.Response) -> list[str]:
    """The `errors[].field` of a 422 problem response."""
    problem = assert_problem(response, 422)
    return [error["field"] for error in problem["errors"]]


async def send(
    api: httpx.AsyncClient, method: str, url: str, body: Any, raw: str | None = None
) -> httpx.Response:
    """Send `body` as JSON with `json.dumps` defaults, so NUL, lone surrogates and NaN
    reach the server as the JSON text a careless client would send."""
    content = raw if raw is not None else json.dumps(body)
    return await api.request(
        method, url, content=content, headers={"Content-Type": "application/json"}
    )


def assert_no_secret(response: httpx.Response, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in response.text


async def link_google_function(
    tenant: Tenant,
    sandbox: SandboxServer,
    bot_id: str | None,
    name: str = "Dr Ana",
    account: Account | None = None,
    **settings: Any,
) -> tuple[Account, str]:
    """A Google Calendar function `name` on `account` or a fresh sandbox account (with its
    refresh token), linked to the bot if one is given: (the account, the function's id)."""
    account = account or await new_account(sandbox)
    calendar = {
        "googleId": account.google_id,
        "calendarId": account.email,
        "googleToken": account.access_token,
        "googleRefreshToken": account.refresh_token,
        **settings,
    }
    created = await tenant.api.post(
        "/api/v1/functions/",
        json=body_for(
            tenant, name=name, googleCalendar=calendar, **({"botId": bot_id} if bot_id else {})
        ),
    )
    assert created.status_code == 201, created.text
    return account, str(created.json()["id"])
