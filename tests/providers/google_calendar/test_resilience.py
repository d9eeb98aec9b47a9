"""Retries, `Retry-After`, timeouts and the time budget, with faults injected in the sandbox."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from agentcal.providers.google_calendar.errors import GoogleRateLimited, GoogleUnavailable
from agentcal.providers.http import RetryPolicy
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.providers.google_calendar.support import (
    CountingTransport,
    days_ahead_at,
    google_client,
    meeting,
    new_account,
)

FREE_BUSY = "/google/calendar/v3/freeBusy"
# Backoff waits far shorter than the Retry-After the tests ask for, so a passing
# 429 test shows the header was honoured, not that backoff happened to be as long.
TINY_BACKOFF = RetryPolicy(
    attempts=4,
    budget=5.0,
    request_timeout=2.0,
    wait_initial=0.001,
    wait_max=0.002,
    wait_jitter=0,
)
RATE_LIMITED_403 = {
    "error": {
        "errors": [
            {
                "domain": "usageLimits",
                "reason": "rateLimitExceeded",
                "message": "Rate Limit Exceeded",
            }
        ],
        "code": 403,
        "message": "Rate Limit Exceeded",
    }
}


async def _free_busy(
    sandbox: SandboxServer, policy: RetryPolicy = TINY_BACKOFF
) -> tuple[int, float, list[tuple[object, object]]]:
    """Book one event, then ask freeBusy for it: (requests sent, seconds, busy periods)."""
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    setup = google_client(sandbox)
    try:
        await setup.insert_event(account.access_token, account.email, meeting(start))
    finally:
        await setup.aclose()
    transport = CountingTransport()
    client = google_client(sandbox, policy=policy, transport=transport)
    began = time.monotonic()
    try:
        answer = await client.free_busy(
            account.access_token, [account.email], start, start + timedelta(hours=1)
        )
    finally:
        await client.aclose()
    busy = [(b.start, b.end) for b in answer.calendars[account.email].busy]
    assert busy == [(start, start + timedelta(minutes=30))]
    return transport.sent[f"POST {FREE_BUSY}"], time.monotonic() - began, busy


async def test_429_with_retry_after_is_waited_out_then_succeeds(sandbox: SandboxServer) -> None:
    sandbox.state.faults.rules.append(Fault(path_prefix=FREE_BUSY, status=429, retry_after=0.2))
    sent, took, _ = await _free_busy(sandbox)
    assert sent == 2
    assert took >= 0.2
    assert sandbox.state.faults.rules == []


async def test_503_twice_then_success(sandbox: SandboxServer) -> None:
    sandbox.state.faults.rules.append(Fault(path_prefix=FREE_BUSY, status=503, times=2))
    sent, _, _ = await _free_busy(sandbox)
    assert sent == 3


async def test_403_rate_limit_is_treated_like_429(sandbox: SandboxServer) -> None:
    """Google reports usage limits as 403 `rateLimitExceeded`: back off and repeat."""
    sandbox.state.faults.rules.append(
        Fault(path_prefix=FREE_BUSY, status=403, body=RATE_LIMITED_403, times=1)
    )
    sent, _, _ = await _free_busy(sandbox)
    assert sent == 2


async def test_a_rate_limit_that_lasts_is_rate_limited(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    sandbox.state.faults.rules.append(
        Fault(path_prefix=FREE_BUSY, status=403, body=RATE_LIMITED_403, times=-1)
    )
    transport = CountingTransport()
    client = google_client(sandbox, policy=TINY_BACKOFF, transport=transport)
    start = days_ahead_at(13)
    try:
        with pytest.raises(GoogleRateLimited) as raised:
            await client.free_busy(
                account.access_token, [account.email], start, start + timedelta(hours=1)
            )
    finally:
        await client.aclose()
    assert raised.value.code == "rate_limited"
    assert transport.sent[f"POST {FREE_BUSY}"] == TINY_BACKOFF.attempts


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    sandbox.state.faults.rules.append(Fault(path_prefix=FREE_BUSY, status=429, retry_after=60))
    client = google_client(sandbox, policy=TINY_BACKOFF)
    start = days_ahead_at(13)
    began = time.monotonic()
    try:
        with pytest.raises(GoogleRateLimited) as raised:
            await client.free_busy(
                account.access_token, [account.email], start, start + timedelta(hours=1)
            )
    finally:
        await client.aclose()
    assert time.monotonic() - began < 2
    assert raised.value.headers == {"Retry-After": "60"}
    assert "retry after 60 s" in str(raised.value)


async def test_a_hanging_google_exhausts_the_budget_with_a_clear_error(
    sandbox: SandboxServer,
) -> None:
    account = await new_account(sandbox)
    sandbox.state.faults.rules.append(Fault(path_prefix=FREE_BUSY, hang=True, times=-1))
    policy = RetryPolicy(
        attempts=10,
        budget=0.8,
        request_timeout=0.25,
        wait_initial=0.01,
        wait_max=0.02,
        wait_jitter=0,
    )
    transport = CountingTransport()
    client = google_client(sandbox, policy=policy, transport=transport)
    start = days_ahead_at(13)
    began = time.monotonic()
    try:
        with pytest.raises(GoogleUnavailable) as raised:
            await client.free_busy(
                account.access_token, [account.email], start, start + timedelta(hours=1)
            )
    finally:
        await client.aclose()
    took = time.monotonic() - began
    assert raised.value.code == "upstream_unavailable"
    assert "did not answer in time: gave up after 0.8 s" in str(raised.value)
    assert 0.7 <= took < 1.5
    assert transport.sent[f"POST {FREE_BUSY}"] >= 2  # timed-out reads are repeated


async def test_5xx_that_lasts_is_upstream_unavailable(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    sandbox.state.faults.rules.append(Fault(path_prefix=FREE_BUSY, status=502, times=-1))
    transport = CountingTransport()
    client = google_client(sandbox, policy=TINY_BACKOFF, transport=transport)
    start = days_ahead_at(13)
    try:
        with pytest.raises(GoogleUnavailable) as raised:
            await client.free_busy(
                account.access_token, [account.email], start, start + timedelta(hours=1)
            )
    finally:
        await client.aclose()
    assert "unavailable (502)" in str(raised.value)
    assert transport.sent[f"POST {FREE_BUSY}"] == TINY_BACKOFF.attempts


async def test_the_token_endpoint_is_retried_too(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    sandbox.state.faults.rules.append(Fault(path_prefix="/google/token", status=503, times=1))
    client = google_client(sandbox, policy=TINY_BACKOFF)
    try:
        grant = await client.refresh_access_token(account.refresh_token)
    finally:
        await client.aclose()
    assert grant.expires_in == 3600
    assert sandbox.google.token_requests[account.refresh_token] == 1  # the 503 never got there
