"""The retry policy: the budget bounds a whole call, waits included, and nests."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from agentcal.providers.http import BudgetExhausted, RetryPolicy, call_budget, retry_after, send


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://p.test")


async def _get(client: httpx.AsyncClient, policy: RetryPolicy, *, safe: bool = True) -> int:
    request = client.build_request("GET", "/x")
    response = await send(client, request, provider="test", operation="x", safe=safe, policy=policy)
    return response.status_code


async def test_long_backoff_waits_are_cut_to_the_budget() -> None:
    """Waits of up to 5 s must not carry a 1 s budget past its end."""
    calls = 0

    def always_503(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    policy = RetryPolicy(attempts=10, budget=1.0, wait_initial=2.0, wait_max=5.0, wait_jitter=1.0)
    started = time.monotonic()
    async with _client(always_503) as client:
        status = await _get(client, policy)
    assert time.monotonic() - started < 1.3
    assert status == 503  # out of time: the last answer is returned for mapping
    assert calls >= 2


async def test_a_call_budget_bounds_several_requests_together() -> None:
    def slow_503(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        return httpx.Response(503)

    policy = RetryPolicy(attempts=50, budget=15.0, wait_initial=0.05, wait_max=0.1, wait_jitter=0)
    started = time.monotonic()
    async with _client(slow_503) as client:
        with call_budget(0.6):
            assert await _get(client, policy) == 503  # used the whole shared budget
            second = time.monotonic()
            with pytest.raises(BudgetExhausted, match="no time was left"):
                await _get(client, policy)
    assert time.monotonic() - started < 0.9
    assert time.monotonic() - second < 0.05  # it did not even try


async def test_a_hang_past_the_budget_raises_budget_exhausted() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        import asyncio

        await asyncio.sleep(5)
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(hang), base_url="https://p.test")
    policy = RetryPolicy(attempts=3, budget=0.5, request_timeout=10.0, wait_initial=0.01)
    started = time.monotonic()
    with pytest.raises(BudgetExhausted, match="gave up"):
        await _get(client, policy)
    await client.aclose()
    assert time.monotonic() - started < 0.8


async def test_unsafe_requests_are_not_repeated_after_a_503() -> None:
    calls = 0

    def count(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    async with _client(count) as client:
        assert await _get(client, RetryPolicy(wait_initial=0.01), safe=False) == 503
    assert calls == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("-4", 0.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_reads_seconds_and_dates(header: str, seconds: float | None) -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": header})) == seconds
