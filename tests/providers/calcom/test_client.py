"""The Cal.com client: envelope parsing and its error classes."""

from __future__ import annotations

import socket

import httpx
import pytest

from agentcal.providers.calcom.client import CalcomClient
from agentcal.providers.calcom.errors import (
    CalcomAuthError,
    CalcomError,
    CalcomNotFound,
    CalcomUnavailable,
)
from agentcal.providers.http import RetryPolicy
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from tests.conftest import SandboxServer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_event_types_parse_into_models(sandbox: SandboxServer) -> None:
    client = CalcomClient(f"{sandbox.url}/calcom")
    try:
        types = await client.event_types(DEMO_API_KEY, DEMO_USERNAME)
    finally:
        await client.aclose()
    assert [(t.slug, t.length_in_minutes) for t in types] == [("30min", 30), ("60min", 60)]


async def test_unreachable_calcom_is_upstream_unavailable() -> None:
    fast = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0)
    client = CalcomClient(f"http://127.0.0.1:{_closed_port()}", policy=fast)
    try:
        with pytest.raises(CalcomUnavailable) as raised:
            await client.event_types("cal_live_secret_value", "demo")
    finally:
        await client.aclose()
    assert raised.value.code == "upstream_unavailable"
    assert "cal_live_secret_value" not in str(raised.value)


async def test_a_refused_key_is_auth_invalid_without_the_key(sandbox: SandboxServer) -> None:
    client = CalcomClient(f"{sandbox.url}/calcom")
    try:
        with pytest.raises(CalcomAuthError) as raised:
            await client.event_types("cal_live_secret_value", DEMO_USERNAME)
    finally:
        await client.aclose()
    assert raised.value.code == "auth_invalid"
    assert "cal_live_secret_value" not in str(raised.value)


async def test_an_unknown_user_is_not_found(sandbox: SandboxServer) -> None:
    client = CalcomClient(f"{sandbox.url}/calcom")
    try:
        with pytest.raises(CalcomNotFound):
            await client.event_types(DEMO_API_KEY, "no-such-user")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, b"[1, 2]"), (422, b'"just a string"'), (400, b"not json"), (404, b'{"error": "flat"}')],
)
async def test_odd_error_bodies_still_map_to_calcom_errors(status: int, body: bytes) -> None:
    """Cal.com (or a proxy before it) may answer errors in any shape."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    client = CalcomClient("https://cal.test", transport=transport)
    try:
        with pytest.raises(CalcomError):
            await client.event_types("cal_live_x", "demo")
    finally:
        await client.aclose()


async def test_an_undecodable_response_is_upstream_unavailable() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=b"\x00not gzip", headers={"Content-Encoding": "gzip"}
        )
    )
    client = CalcomClient("https://cal.test", transport=transport)
    try:
        with pytest.raises(CalcomUnavailable):
            await client.event_types("cal_live_x", "demo")
    finally:
        await client.aclose()
