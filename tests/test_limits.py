"""Request limits (413, 431, 415) and rate limits (429) per token and per bot, in memory
and in Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.settings import Settings
from tests.factories import Tenant, calcom_body, create_tenant
from tests.providers.calcom.support import bot_with_calcom

REDIS_URL = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def limited_app(
    settings: Settings, keyring: Keyring, **limits: Any
) -> AsyncIterator[FastAPI]:
    """Another app on the same database, with its own limits."""
    application = create_app(settings.model_copy(update=limits), keyring=keyring)
    async with application.router.lifespan_context(application):
        yield application


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def _integrations(tenant: Tenant) -> list[Any]:
    listed = await tenant.api.get(f"/api/v1/calcom/integration/unit/{tenant.unit_id}")
    assert listed.status_code == 200, listed.text
    data: list[Any] = listed.json()["data"]
    return data


# ------------------------------------------------------------------------ request sizes


async def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(tenant: Tenant) -> None:
    body = calcom_body(tenant.unit_id, prompt="x" * (2 * 1024 * 1024))
    response = await tenant.api.post("/api/v1/calcom/integration", json=body)
    problem = _problem(response, 413)
    assert problem["type"] == "urn:agentcal:problem:content-too-large"
    assert "AGENTCAL_MAX_BODY_BYTES" in problem["detail"]
    assert await _integrations(tenant) == []


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(tenant: Tenant) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"title": "Calcom", "prompt": "'
        for _ in range(64):  # 4 MiB in all, if it were all read
            sent += 1
            yield b"x" * 65536
        yield b'"}'

    response = await tenant.api.post(
        "/api/v1/calcom/integration",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    _problem(response, 413)
    assert await _integrations(tenant) == []


async def test_a_streamed_mcp_body_over_the_limit_is_a_413_not_the_sdks_500(
    tenant: Tenant,
) -> None:
    bot_id, _, _ = await bot_with_calcom(tenant)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(32):  # 2 MiB
            yield b" " * 65536

    response = await tenant.api.post(
        f"/mcp/bots/{bot_id}",
        content=chunks(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    _problem(response, 413)


async def test_ten_megabytes_of_tool_arguments_are_a_413(tenant: Tenant) -> None:
    bot_id, _, names = await bot_with_calcom(tenant)
    call = {"id": "c1", "name": names["check_availability"], "arguments": {"x": "y" * 10**7}}
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]}
    )
    _problem(response, 413)


async def test_a_body_at_the_limit_is_read(settings: Settings, keyring: Keyring) -> None:
    async with limited_app(settings, keyring, max_body_bytes=2048) as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        body = calcom_body(tenant.unit_id, prompt="")
        body["prompt"] = "p" * (2048 - len(httpx.Request("POST", "/", json=body).content))
        ok = await tenant.api.post("/api/v1/calcom/integration", json=body)
        assert len(ok.request.content) == 2048
        assert ok.status_code == 201, ok.text
        body["prompt"] += "p"
        _problem(await tenant.api.post("/api/v1/calcom/integration", json=body), 413)


async def test_headers_over_16_kib_are_a_431(tenant: Tenant) -> None:
    fine = await tenant.api.get("/api/v1/units", headers={"X-Padding": "a" * 8192})
    assert fine.status_code == 200
    response = await tenant.api.get("/api/v1/units", headers={"X-Padding": "a" * 20000})
    problem = _problem(response, 431)
    assert "headers" in problem["detail"]


@pytest.mark.parametrize(
    ("content_type", "named"),
    [(None, "the header is missing"), ("text/plain", "'text/plain'")],
)
async def test_a_body_that_is_not_declared_json_is_a_415_naming_the_header(
    tenant: Tenant, content_type: str | None, named: str
) -> None:
    body = httpx.Request("POST", "/", json=calcom_body(tenant.unit_id)).content
    headers = {"Content-Type": content_type} if content_type else {}
    request = tenant.api.build_request(
        "POST", "/api/v1/calcom/integration", content=body, headers=headers
    )
    assert ("content-type" in request.headers) == (content_type is not None)
    problem = _problem(await tenant.api.send(request), 415)
    assert "Content-Type: application/json" in problem["detail"]
    assert named in problem["detail"]
    assert await _integrations(tenant) == []


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(tenant: Tenant) -> None:
    body = httpx.Request("POST", "/", json=calcom_body(tenant.unit_id)).content
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await tenant.api.post(
            "/api/v1/calcom/integration", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 201, (content_type, response.text)


# ------------------------------------------------------------------------- rate limits


def _limited_count(scope: str) -> float:
    return REGISTRY.get_sample_value("agentcal_rate_limited_total", {"scope": scope}) or 0.0


async def test_a_token_over_its_limit_gets_429_with_retry_after_and_ratelimit_headers(
    settings: Settings, keyring: Keyring
) -> None:
    async with limited_app(settings, keyring, rate_limit_per_token="3/minute") as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        other = await create_tenant(app, "Other Inc", "Desk")
        before = _limited_count("token")
        answers = [await tenant.api.get("/api/v1/units") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["ratelimit-policy"] == '"token-minute";q=3;w=60'
        assert answers[0].headers["ratelimit"].startswith('"token-minute";r=2;t=')
        assert answers[2].headers["ratelimit"].startswith('"token-minute";r=0;t=')
        refused = answers[3]
        problem = _problem(refused, 429)
        assert problem["type"] == "urn:agentcal:problem:rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-policy"] == '"token-minute";q=3;w=60'
        assert _limited_count("token") == before + 1
        # Another token has its own count; health checks are never limited.
        assert (await other.api.get("/api/v1/units")).status_code == 200
        assert (await tenant.api.get("/healthz")).status_code == 200


async def test_a_burst_limit_refuses_before_the_sustained_one_is_spent(
    settings: Settings, keyring: Keyring
) -> None:
    async with limited_app(settings, keyring, rate_limit_per_token="2/hour;100/day") as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        answers = [await tenant.api.get("/api/v1/units") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["ratelimit"].startswith('"token-hour";r=0;')
        policy = answers[0].headers["ratelimit-policy"]
        assert policy == '"token-hour";q=2;w=3600, "token-day";q=100;w=86400'


async def test_a_bots_tool_calls_have_their_own_limit(settings: Settings, keyring: Keyring) -> None:
    async with limited_app(
        settings, keyring, rate_limit_per_bot="2/minute", rate_limit_per_token="1000/minute"
    ) as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        bot_id, _, names = await bot_with_calcom(tenant)  # lists the tools: 1 of 2
        other_bot, _, _ = await bot_with_calcom(tenant)
        call = {"toolCalls": [{"name": names["check_availability"], "arguments": {}}]}
        # Nobody without a token spends the bot's budget.
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agentcal.test"
        )
        async with anonymous:
            for _ in range(3):
                answer = await anonymous.post(f"/api/v1/bots/{bot_id}/tool-calls", json=call)
                assert answer.status_code == 401
        second = await tenant.api.post(f"/api/v1/bots/{bot_id}/tool-calls", json=call)
        assert second.status_code == 200, second.text
        assert second.headers["ratelimit"].startswith('"bot-minute";r=0;')
        third = await tenant.api.post(f"/api/v1/bots/{bot_id}/tool-calls", json=call)
        problem = _problem(third, 429)
        assert "bot" in problem["detail"]
        assert "retry-after" in third.headers
        # Another bot, and the management API, are not affected.
        assert (await tenant.api.get(f"/api/v1/bots/{other_bot}/tools")).status_code == 200
        assert (await tenant.api.get("/api/v1/units")).status_code == 200


async def test_replicas_share_their_counts_through_redis(
    settings: Settings, keyring: Keyring
) -> None:
    limits = {"rate_limit_per_token": "3/minute", "redis_url": REDIS_URL}
    async with (
        limited_app(settings, keyring, **limits) as one,
        limited_app(settings, keyring, **limits) as two,
    ):
        tenant = await create_tenant(one, f"Limits {uuid.uuid4().hex[:8]}", "Desk")
        on_two = Tenant(**{**vars(tenant), "app": two, "_clients": []})
        statuses = [(await tenant.api.get("/api/v1/units")).status_code for _ in range(2)]
        statuses += [(await on_two.api.get("/api/v1/units")).status_code for _ in range(2)]
        assert statuses == [200, 200, 200, 429]


async def test_an_unreachable_redis_lets_requests_pass_and_is_left_alone_a_while(
    settings: Settings, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"rate_limit_per_token": "1/minute", "redis_url": "redis://127.0.0.1:1/0"}
    async with limited_app(settings, keyring, **broken) as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        limits = app.state.rate_limits
        asked = 0
        hit = limits.limiter.hit

        async def counted_hit(*args: Any, **kwargs: Any) -> bool:
            nonlocal asked
            asked += 1
            return await hit(*args, **kwargs)

        monkeypatch.setattr(limits.limiter, "hit", counted_hit)
        answers = [await tenant.api.get("/api/v1/units") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert "ratelimit" not in answers[0].headers
        assert asked == 1  # the first request found it down; the next ones did not ask
        assert limits.store_down_until > time.monotonic()


async def test_the_bearer_scheme_spelled_another_way_is_the_same_budget(
    settings: Settings, keyring: Keyring
) -> None:
    async with limited_app(settings, keyring, rate_limit_per_token="2/minute") as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        statuses = []
        for scheme in ("Bearer", "bearer", "BEARER"):
            client = tenant.client()
            client.headers["Authorization"] = f"{scheme}  {tenant.token} "
            async with client:
                statuses.append((await client.get("/api/v1/units")).status_code)
        assert statuses == [200, 200, 429]


async def test_an_address_that_fails_authentication_too_often_is_refused(
    settings: Settings, keyring: Keyring
) -> None:
    limits = {"rate_limit_auth_failures": "3/minute", "rate_limit_per_token": "1000/minute"}
    async with limited_app(settings, keyring, **limits) as app:
        tenant = await create_tenant(app, "Limits Inc", "Front desk")
        guesses = []
        for i in range(4):
            async with tenant.client(token=f"agc_guess_{i}") as guessing:
                guesses.append((await guessing.get("/api/v1/units")).status_code)
        assert guesses == [401, 401, 401, 401]  # the fourth failure is one too many
        refused = await tenant.api.get("/api/v1/units")  # same address, a good token
        problem = _problem(refused, 429)
        assert "invalid access token" in problem["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await tenant.api.get("/healthz")).status_code == 200


def test_a_limit_that_cannot_be_read_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="rate_limit_per_bot"):
        Settings(rate_limit_per_bot="lots per minute")
    assert Settings(rate_limit_per_bot="off").rate_limit_per_bot == "off"
