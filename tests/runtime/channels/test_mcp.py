"""MCP at `/mcp/bots/{botId}`, driven by the official SDK's own client over a real socket.

The app is served on loopback with its lifespan on (the SDK's session manager runs
there), next to the in-process app through which the `tenant` fixtures set bots up;
both use the test database. Results are compared with what the REST API answers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent
from mcp_types.version import LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.runtime.channels import mcp as mcp_server
from agentcal.runtime.channels.mcp import IDEMPOTENCY_META_KEY
from agentcal.settings import Settings
from agentcal.tenancy.models import AccessToken
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom
from tests.servers import serve_in_thread
from tests.support import next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the integration's timezone
CHECK = "check_availability_dr_ana"
BOOK = "create_booking_dr_ana"
# A request that any MCP server must answer: the opening `initialize` of a client.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "raw-http", "version": "1"},
    },
}


@pytest.fixture(scope="module")
def served(engine: AsyncEngine, settings: Settings, keyring: Keyring) -> Iterator[str]:
    """agentcal on a loopback port, lifespan and all; `engine` has migrated the database."""
    with serve_in_thread(create_app(settings, keyring=keyring), lifespan=True) as url:
        yield url


def mcp_url(served: str, bot_id: str) -> str:
    return f"{served}/mcp/bots/{bot_id}"


async def calcom_bot(tenant: Tenant, **overrides: Any) -> str:
    """A bot with the Cal.com demo account linked as "Dr Ana"; its id."""
    bot_id, _, _ = await bot_with_calcom(tenant, **overrides)
    return bot_id


@asynccontextmanager
async def mcp_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """An SDK client session on `url` that sends `token`; not yet initialized."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


async def post_initialize(url: str, headers: dict[str, str]) -> httpx.Response:
    """The client's first request, as plain HTTP, to see status, headers and body."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            url,
            json=INITIALIZE,
            headers={"Accept": "application/json, text/event-stream", **headers},
        )


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def booking(start: str, name: str = "Maria Silva") -> dict[str, Any]:
    return {"start": start, "attendeeName": name, "attendeeEmail": "maria@example.com"}


async def test_initialize_and_tools_list_give_the_rest_mcp_format(
    tenant: Tenant, served: str
) -> None:
    bot_id = await calcom_bot(tenant)
    rest = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools", params={"format": "mcp"})
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        initialized = await session.initialize()
        listed = await session.list_tools()
    assert initialized.server_info.name == "agentcal"
    assert initialized.capabilities.tools is not None
    tools = [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in listed.tools]
    assert [t["name"] for t in tools] == [
        CHECK,
        BOOK,
        "cancel_booking_dr_ana",
        "reschedule_booking_dr_ana",
        "find_booking_dr_ana",
    ]
    assert tools == rest.json()["tools"]


async def test_check_availability_answers_the_rest_result(tenant: Tenant, served: str) -> None:
    bot_id = await calcom_bot(tenant)
    arguments = {"startDate": next_monday().isoformat()}
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        result = await session.call_tool(CHECK, arguments)
    rest = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={"toolCalls": [{"name": CHECK, "arguments": arguments}]},
    )
    assert result.is_error is False
    text = text_of(result)
    assert "Monday" in text
    assert "09:00" in text
    assert "UTC-03:00" in text
    structured = result.structured_content
    assert structured["ok"] is True
    assert structured["content"] == text
    assert structured["data"]["slots"][0]["start"] == f"{next_monday()}T09:00:00-03:00"
    assert structured == rest.json()["results"][0]


async def test_a_switched_off_tool_is_an_error_result_with_code_tool_disabled(
    tenant: Tenant, served: str
) -> None:
    bot_id = await calcom_bot(tenant, createBookingEnabled=False)
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        offered = [t.name for t in (await session.list_tools()).tools]
        result = await session.call_tool(BOOK, booking(f"{next_monday()}T10:00"))
    assert BOOK not in offered
    assert result.is_error is True
    assert result.structured_content["ok"] is False
    assert result.structured_content["error"]["code"] == "tool_disabled"
    assert "switched off" in text_of(result)


async def test_the_2026_per_request_protocol_lists_and_calls_too(
    tenant: Tenant, served: str
) -> None:
    # `Client` (mode "auto") probes `server/discover` and speaks the stateless
    # 2026-07-28 wire when the server does; the Bearer check guards that path too.
    bot_id = await calcom_bot(tenant)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(mcp_url(served, bot_id), http_client=http)) as client,
    ):
        version = client.session.protocol_version
        listed = await client.list_tools()
        result = await client.call_tool(CHECK, {"startDate": next_monday().isoformat()})
    assert version in MODERN_PROTOCOL_VERSIONS
    assert CHECK in [t.name for t in listed.tools]
    assert result.is_error is False
    assert "09:00" in text_of(result)


async def test_an_idempotency_key_in_meta_replays_without_booking_twice(
    tenant: Tenant, served: str, sandbox: SandboxServer
) -> None:
    bot_id = await calcom_bot(tenant)
    arguments = booking(f"{next_monday()}T15:00")
    meta: Any = {IDEMPOTENCY_META_KEY: "agent-run-7/booking-1"}
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        first = await session.call_tool(BOOK, arguments, meta=meta)
        second = await session.call_tool(BOOK, arguments, meta=meta)
    assert first.is_error is False, first.structured_content
    assert second.structured_content == first.structured_content
    assert first.structured_content["toolCallId"] == "agent-run-7/booking-1"
    assert len(sandbox.calcom.bookings) == 1


async def test_an_idempotency_key_reused_with_other_arguments_is_an_invalid_params_error(
    tenant: Tenant, served: str, sandbox: SandboxServer
) -> None:
    bot_id = await calcom_bot(tenant)
    meta: Any = {IDEMPOTENCY_META_KEY: "k-1"}
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        await session.call_tool(BOOK, booking(f"{next_monday()}T16:00"), meta=meta)
        with pytest.raises(MCPError) as raised:
            await session.call_tool(BOOK, booking(f"{next_monday()}T16:00", "Other"), meta=meta)
    assert raised.value.code == INVALID_PARAMS
    assert "already used with different arguments" in raised.value.message
    assert len(sandbox.calcom.bookings) == 1


@pytest.mark.parametrize("key", [7, "", "k" * 129])
async def test_a_malformed_idempotency_key_is_an_invalid_params_error(
    tenant: Tenant, served: str, sandbox: SandboxServer, key: object
) -> None:
    bot_id = await calcom_bot(tenant)
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        meta: Any = {IDEMPOTENCY_META_KEY: key}
        with pytest.raises(MCPError) as raised:
            await session.call_tool(BOOK, booking(f"{next_monday()}T11:00"), meta=meta)
    assert raised.value.code == INVALID_PARAMS
    assert IDEMPOTENCY_META_KEY in raised.value.message
    assert sandbox.calcom.bookings == {}


async def test_without_a_key_a_repeated_booking_runs_again(
    tenant: Tenant, served: str, sandbox: SandboxServer
) -> None:
    bot_id = await calcom_bot(tenant)
    arguments = booking(f"{next_monday()}T14:00")
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        first = await session.call_tool(BOOK, arguments)
        second = await session.call_tool(BOOK, arguments)
    assert first.is_error is False
    assert first.structured_content["toolCallId"] is None
    assert second.is_error is True
    assert second.structured_content["error"]["code"] == "slot_unavailable"
    assert len(sandbox.calcom.bookings) == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic YWRtaW46c2VjcmV0", "Bearer", "Bearer not-a-token"],
    ids=["missing", "not-bearer", "empty", "unknown"],
)
async def test_a_missing_or_invalid_token_is_401_with_a_bearer_challenge(
    tenant: Tenant, served: str, authorization: str | None
) -> None:
    bot_id = await calcom_bot(tenant)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await post_initialize(mcp_url(served, bot_id), headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


@pytest.mark.parametrize("state", ["revoked", "expired"])
async def test_a_revoked_or_expired_token_is_401(
    tenant: Tenant, served: str, app: FastAPI, state: str
) -> None:
    bot_id = await calcom_bot(tenant)
    issued = (await tenant.api.post("/api/v1/access-tokens", json={"name": "mcp"})).json()
    if state == "revoked":
        assert (await tenant.api.delete(f"/api/v1/access-tokens/{issued['id']}")).is_success
    else:
        async with app.state.sessionmaker() as session, session.begin():
            past = datetime.now(UTC) - timedelta(minutes=1)
            await session.execute(
                update(AccessToken)
                .where(AccessToken.id == uuid.UUID(issued["id"]))
                .values(expires_at=past)
            )
    response = await post_initialize(
        mcp_url(served, bot_id), {"Authorization": f"Bearer {issued['token']}"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert state in response.json()["detail"]


async def test_a_token_revoked_mid_session_is_refused_on_the_next_request(
    tenant: Tenant, served: str
) -> None:
    # Stateless: every request is authenticated, none rides on an earlier one.
    bot_id = await calcom_bot(tenant)
    issued = (await tenant.api.post("/api/v1/access-tokens", json={"name": "mcp"})).json()
    async with mcp_session(mcp_url(served, bot_id), issued["token"]) as session:
        await session.initialize()
        assert (await session.list_tools()).tools
        await tenant.api.delete(f"/api/v1/access-tokens/{issued['id']}")
        with pytest.raises(MCPError):
            await session.list_tools()


@pytest.mark.parametrize("which", ["other-institution", "unknown", "not-a-uuid"])
async def test_a_bot_the_token_cannot_see_is_404_before_mcp(
    tenant: Tenant, other_tenant: Tenant, served: str, which: str
) -> None:
    bot_id = {
        "other-institution": await calcom_bot(other_tenant),
        "unknown": str(uuid.uuid4()),
        "not-a-uuid": "reception",
    }[which]
    response = await post_initialize(
        mcp_url(served, bot_id), {"Authorization": f"Bearer {tenant.token}"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "jsonrpc" not in response.json()  # answered by agentcal, not by the MCP server


@pytest.mark.parametrize("who", ["bad-token", "other-institution"])
async def test_the_sdk_client_cannot_initialize_without_access(
    tenant: Tenant, other_tenant: Tenant, served: str, who: str
) -> None:
    bot_id = await calcom_bot(tenant)
    token = "not-a-token" if who == "bad-token" else other_tenant.token
    async with mcp_session(mcp_url(served, bot_id), token) as session:
        with pytest.raises(MCPError):
            await session.initialize()


async def test_if_the_sdk_cannot_start_mcp_answers_503_and_rest_still_works(
    tenant: Tenant, settings: Settings, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_install() -> None:
        raise ImportError("No module named 'mcp.server'")

    monkeypatch.setattr(mcp_server, "_load_sdk", broken_install)
    bot_id = await calcom_bot(tenant)
    app = create_app(settings, keyring=keyring)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agentcal.test", headers=headers
        ) as api,
    ):
        response = await api.post(f"/mcp/bots/{bot_id}", json=INITIALIZE)
        tools = await api.get(f"/api/v1/bots/{bot_id}/tools")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert tools.status_code == 200


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_get_and_delete_are_405_as_there_is_no_stream_and_no_session(
    tenant: Tenant, served: str, method: str
) -> None:
    bot_id = await calcom_bot(tenant)
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(
            method,
            mcp_url(served, bot_id),
            headers={"Authorization": f"Bearer {tenant.token}", "Accept": "text/event-stream"},
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_an_unknown_tool_is_an_error_result_naming_the_tools_as_over_rest(
    tenant: Tenant, served: str
) -> None:
    bot_id = await calcom_bot(tenant)
    async with mcp_session(mcp_url(served, bot_id), tenant.token) as session:
        await session.initialize()
        result = await session.call_tool("book_it", {})
    assert result.is_error is True
    assert result.structured_content["error"]["code"] == "unknown_tool"
    assert CHECK in text_of(result)
