"""Access-token refresh: ahead of expiry, once at a time, `invalid_grant` recorded.

Functions are created through the API with tokens of a fresh sandbox account; the tests
then call `access_token_for` as the runtime will, and count what reached the sandbox's
token endpoint.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import create_engine, create_sessionmaker, utcnow
from agentcal.providers.google_calendar.client import GoogleCalendarClient
from agentcal.providers.google_calendar.credentials import FunctionAuth, access_token_for
from agentcal.providers.google_calendar.errors import (
    GoogleCredentialsExpired,
    GoogleInvalidGrant,
    GoogleUnavailable,
)
from agentcal.providers.google_calendar.models import GOOGLE_TOKEN, GoogleCalendarPlugin
from agentcal.sandbox.faults import Fault
from agentcal.sandbox.google import CLIENT_ID as GOOGLE_CLIENT_ID
from agentcal.sandbox.google import CLIENT_SECRET as GOOGLE_CLIENT_SECRET
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.google_calendar.functions_support import body_for, stored_plugin
from tests.providers.google_calendar.support import FAST, Account, google_client, new_account
from tests.support import wait_until

TOKEN_URL = "/google/token"


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    client = google_client(sandbox)
    yield client
    await client.aclose()


async def _function(tenant: Tenant, account: Account, *, refresh: bool = True) -> str:
    calendar: dict[str, Any] = {
        "googleId": account.google_id,
        "calendarId": account.email,
        "googleToken": account.access_token,
    }
    if refresh:
        calendar["googleRefreshToken"] = account.refresh_token
    response = await tenant.api.post(
        "/api/v1/functions/", json=body_for(tenant, googleCalendar=calendar)
    )
    assert response.status_code == 201, response.text
    function_id: str = response.json()["id"]
    return function_id


async def _plugin(app: FastAPI, function_id: str) -> GoogleCalendarPlugin:
    plugin = await stored_plugin(app, function_id)
    assert plugin is not None
    return plugin


async def _expire(app: FastAPI, function_id: str, seconds_left: float = -60) -> None:
    """Record the stored access token as expiring `seconds_left` from now."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(GoogleCalendarPlugin)
            .where(GoogleCalendarPlugin.function_id == uuid.UUID(function_id))
            .values(access_token_expires_at=utcnow() + timedelta(seconds=seconds_left))
        )


async def _status(tenant: Tenant, function_id: str) -> str:
    response = await tenant.api.get(f"/api/v1/functions/{function_id}")
    assert response.status_code == 200
    status: str = response.json()["googleCalendarPlugin"][0]["credentialStatus"]
    return status


async def test_a_fresh_token_is_used_without_asking_google(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    plugin = await _plugin(app, function_id)
    token = await access_token_for(app.state.sessionmaker, keyring, google, plugin)
    assert token == account.access_token
    assert sandbox.google.token_requests[account.refresh_token] == 0


@pytest.mark.parametrize("seconds_left", [-60, 120])
async def test_an_expired_or_expiring_token_is_refreshed_and_stored_sealed(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
    seconds_left: int,
) -> None:
    """Refresh *ahead* of expiry: 2 minutes left is too little for a tool call."""
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id, seconds_left)
    before = (await tenant.api.get(f"/api/v1/functions/{function_id}")).json()
    plugin = await _plugin(app, function_id)

    token = await access_token_for(app.state.sessionmaker, keyring, google, plugin)

    assert token != account.access_token
    assert sandbox.google.caller(token) is not None
    assert sandbox.google.token_requests[account.refresh_token] == 1
    stored = await _plugin(app, function_id)
    assert GOOGLE_TOKEN.open(keyring, stored) == token
    assert stored.google_token_ciphertext is not None
    assert token.encode() not in stored.google_token_ciphertext
    assert stored.access_token_expires_at is not None
    left = stored.access_token_expires_at - utcnow()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)
    # The caller's object learnt the new token: its next call asks nobody.
    assert await access_token_for(app.state.sessionmaker, keyring, google, plugin) == token
    assert sandbox.google.token_requests[account.refresh_token] == 1
    after = (await tenant.api.get(f"/api/v1/functions/{function_id}")).json()
    assert after == before  # a refresh is not an edit: same updatedAt, still masked


async def test_20_concurrent_calls_with_an_expired_token_refresh_once(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    # A slow token endpoint keeps the first refresh in flight while the others arrive.
    sandbox.state.faults.rules.append(Fault(path_prefix=TOKEN_URL, latency_ms=200, times=-1))
    plugins = [await _plugin(app, function_id) for _ in range(20)]

    tokens = await asyncio.gather(
        *(access_token_for(app.state.sessionmaker, keyring, google, p) for p in plugins)
    )

    assert sandbox.google.token_requests[account.refresh_token] == 1
    assert len(set(tokens)) == 1
    assert tokens[0] != account.access_token


async def test_two_processes_refreshing_one_function_refresh_once(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    keyring: Keyring,
    database_url: str,
    backend: str,
) -> None:
    """Two engines and two clients share nothing in memory, like two replicas: only the
    database lock keeps them from refreshing twice."""
    if backend != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite is one process (its lock is in-process)")
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    sandbox.state.faults.rules.append(Fault(path_prefix=TOKEN_URL, latency_ms=300, times=-1))
    engines = [create_engine(database_url) for _ in range(2)]
    clients = [google_client(sandbox) for _ in range(2)]
    try:
        plugins = [await _plugin(app, function_id) for _ in range(2)]
        tokens = await asyncio.gather(
            *(
                access_token_for(create_sessionmaker(engine), keyring, client, plugin)
                for engine, client, plugin in zip(engines, clients, plugins, strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
        for engine in engines:
            await engine.dispose()
    assert sandbox.google.token_requests[account.refresh_token] == 1
    assert tokens[0] == tokens[1] != account.access_token


@pytest.mark.parametrize("how", ["revoked", "injected"])
async def test_invalid_grant_marks_the_credentials_invalid_until_a_new_token(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
    how: str,
) -> None:
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    if how == "revoked":
        assert sandbox.google.revoke(account.refresh_token)
    else:  # the sandbox's fault injection can answer invalid_grant for a good token
        sandbox.state.faults.rules.append(
            Fault(
                path_prefix=TOKEN_URL,
                status=400,
                body={"error": "invalid_grant", "error_description": "Bad Request"},
            )
        )
    plugin = await _plugin(app, function_id)

    with pytest.raises(GoogleInvalidGrant) as raised:
        await access_token_for(app.state.sessionmaker, keyring, google, plugin)
    assert raised.value.code == "calendar_auth_expired"
    assert "PUT /api/v1/functions/{id}" in str(raised.value)
    assert account.refresh_token not in str(raised.value)
    assert await _status(tenant, function_id) == "invalid"

    # Every later call says so at once, without asking Google again.
    requests = sandbox.google.token_requests[account.refresh_token]
    with pytest.raises(GoogleCredentialsExpired, match="credentialStatus 'invalid'"):
        await access_token_for(
            app.state.sessionmaker, keyring, google, await _plugin(app, function_id)
        )
    assert sandbox.google.token_requests[account.refresh_token] == requests

    fresh = await new_account(sandbox)
    body = body_for(
        tenant,
        googleCalendar={
            "googleId": account.google_id,
            "calendarId": account.email,
            "googleToken": fresh.access_token,
        },
    )
    response = await tenant.api.put(f"/api/v1/functions/{function_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["googleCalendarPlugin"][0]["credentialStatus"] == "valid"
    assert await _status(tenant, function_id) == "valid"
    token = await access_token_for(
        app.state.sessionmaker, keyring, google, await _plugin(app, function_id)
    )
    assert token == fresh.access_token


async def test_a_new_refresh_token_alone_also_clears_invalid(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    sandbox.google.revoke(account.refresh_token)
    with pytest.raises(GoogleInvalidGrant):
        await access_token_for(
            app.state.sessionmaker, keyring, google, await _plugin(app, function_id)
        )
    body = body_for(
        tenant,
        googleCalendar={
            "googleId": account.google_id,
            "calendarId": account.email,
            "googleRefreshToken": (await new_account(sandbox)).refresh_token,
        },
    )
    response = await tenant.api.put(f"/api/v1/functions/{function_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["googleCalendarPlugin"][0]["credentialStatus"] == "valid"


async def test_a_refused_access_token_is_refreshed_and_the_call_repeated(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    """A pasted token has no known expiry: it is used until Google answers 401."""
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    sandbox.google.revoke(account.access_token)
    plugin = await _plugin(app, function_id)
    auth = FunctionAuth(app.state.sessionmaker, keyring, google, plugin)
    assert await auth.token() == account.access_token  # trusted until Google refuses it

    entry = await google.get_calendar_list_entry(auth)

    assert entry.id == account.email
    renewed = await auth.token()
    assert renewed != account.access_token
    assert sandbox.google.caller(renewed) is not None
    assert sandbox.google.token_requests[account.refresh_token] == 1


async def test_a_refused_token_without_a_refresh_token_marks_the_credentials_invalid(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    account = await new_account(sandbox)
    function_id = await _function(tenant, account, refresh=False)
    sandbox.google.revoke(account.access_token)
    plugin = await _plugin(app, function_id)
    auth = FunctionAuth(app.state.sessionmaker, keyring, google, plugin)

    with pytest.raises(GoogleCredentialsExpired) as raised:
        await google.get_calendar_list_entry(auth)
    assert "no refresh token" in str(raised.value)
    assert account.access_token not in str(raised.value)
    assert await _status(tenant, function_id) == "invalid"


async def test_a_function_created_with_only_a_refresh_token_gets_an_access_token(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    account = await new_account(sandbox)
    calendar = {"googleId": account.google_id, "googleToken": account.refresh_token}
    response = await tenant.api.post(
        "/api/v1/functions/", json=body_for(tenant, googleCalendar=calendar)
    )
    assert response.status_code == 201, response.text
    plugin = await _plugin(app, response.json()["id"])
    token = await access_token_for(app.state.sessionmaker, keyring, google, plugin)
    assert sandbox.google.caller(token) is not None
    assert sandbox.google.token_requests[account.refresh_token] == 1


async def test_a_failed_refresh_leaves_the_credentials_valid(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    """Google being down says nothing about the token: try again next time."""
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    sandbox.state.faults.rules.append(Fault(path_prefix=TOKEN_URL, status=503, times=-1))
    with pytest.raises(GoogleUnavailable) as raised:
        await access_token_for(
            app.state.sessionmaker, keyring, google, await _plugin(app, function_id)
        )
    assert raised.value.code == "upstream_unavailable"
    assert await _status(tenant, function_id) == "valid"
    sandbox.state.faults.rules.clear()
    token = await access_token_for(
        app.state.sessionmaker, keyring, google, await _plugin(app, function_id)
    )
    assert sandbox.google.caller(token) is not None


async def test_get_function_shows_credential_status(tenant: Tenant) -> None:
    response = await tenant.api.post("/api/v1/functions/", json=body_for(tenant))
    assert response.status_code == 201
    assert response.json()["googleCalendarPlugin"][0]["credentialStatus"] == "valid"


async def test_a_put_with_new_tokens_wins_over_a_refresh_failing_meanwhile(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    keyring: Keyring,
) -> None:
    """The integrator re-authorises while a refresh with the revoked token is in flight:
    whichever commits first, the function ends with the new tokens and 'valid'."""
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    await _expire(app, function_id)
    assert sandbox.google.revoke(account.refresh_token)
    sandbox.state.faults.rules.append(Fault(path_prefix=TOKEN_URL, latency_ms=400))
    refreshing = asyncio.create_task(
        access_token_for(app.state.sessionmaker, keyring, google, await _plugin(app, function_id))
    )
    # The refresh is now waiting on the token endpoint: its request took the slow fault.
    await wait_until(lambda: not sandbox.state.faults.rules)
    assert not refreshing.done()
    fresh = await new_account(sandbox)
    body = body_for(
        tenant,
        googleCalendar={
            "googleId": account.google_id,
            "calendarId": account.email,
            "googleToken": fresh.access_token,
            "googleRefreshToken": fresh.refresh_token,
        },
    )
    response = await tenant.api.put(f"/api/v1/functions/{function_id}", json=body)
    assert response.status_code == 200, response.text
    with pytest.raises(GoogleInvalidGrant):
        await refreshing
    assert await _status(tenant, function_id) == "valid"
    plugin = await _plugin(app, function_id)
    assert GOOGLE_TOKEN.open(keyring, plugin) == fresh.access_token


async def test_a_refresh_slower_than_a_request_s_timeout_finishes_and_is_used_once(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, keyring: Keyring
) -> None:
    """After a 401 the refresh runs inside the request's attempt. An attempt that times
    out meanwhile must not cut the refresh short: it commits (a rotated refresh token is
    kept), and the next attempt uses its token instead of refreshing again."""
    account = await new_account(sandbox)
    function_id = await _function(tenant, account)
    sandbox.google.revoke(account.access_token)  # the next request is answered 401
    slow = Fault(path_prefix=TOKEN_URL, latency_ms=600, times=-1)
    sandbox.state.faults.rules.append(slow)
    # Requests time out after 0.3 s; the token request, with a policy of its own, does not.
    client = GoogleCalendarClient(
        f"{sandbox.url}/google/calendar/v3",
        f"{sandbox.url}{TOKEN_URL}",
        GOOGLE_CLIENT_ID,
        GOOGLE_CLIENT_SECRET,
        policy=replace(FAST, attempts=10, request_timeout=0.3, budget=5.0),
        token_policy=FAST,
    )
    try:
        auth = FunctionAuth(
            app.state.sessionmaker, keyring, client, await _plugin(app, function_id)
        )
        entry = await client.get_calendar_list_entry(auth)
    finally:
        await client.aclose()
    assert entry.id == account.email
    assert sandbox.google.token_requests[account.refresh_token] == 1
    stored = await _plugin(app, function_id)
    assert GOOGLE_TOKEN.open(keyring, stored) == await auth.token()
    assert await auth.token() != account.access_token
