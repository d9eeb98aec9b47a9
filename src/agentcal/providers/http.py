"""What every provider client shares: its pooled client, and sending with retries.

`send` repeats what is safe to repeat, with backoff and jitter, `Retry-After`, a time
budget, and metrics; `send_mapped` also turns transport failures into the provider's
`ProviderUnavailable` leaf. What may be repeated:
* a request that never reached the provider (connect errors, pool timeouts): always;
* 429: always; the provider refused it without acting on it;
* 502, 503, 504 and read timeouts: only for `safe` requests (reads, and writes the
  caller made idempotent), because the provider may have acted before failing.

Each attempt has its own timeout (10 s by default), and the whole call has a budget
(15 s by default) that covers retries and waits: no wait is longer than what is left.
When the budget runs out the call raises `BudgetExhausted` rather than hanging on.
`call_budget()` sets one deadline for everything inside it, so that a tool call's
several requests (a token refresh, then the call; an insert, then a read) share it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import stamina
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError

from agentcal import __version__
from agentcal.providers.base import ProviderError, ProviderUnavailable
from agentcal.scheduling.speech import say, say_plural

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
M = TypeVar("M", bound=BaseModel)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    TimeoutError,
)

PROVIDER_REQUESTS = Counter(
    "agentcal_provider_requests_total",
    "Requests sent to providers, by outcome (HTTP status class or error)",
    ["provider", "operation", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "agentcal_provider_request_duration_seconds",
    "Latency of single provider requests (one attempt)",
    ["provider", "operation"],
)
PROVIDER_RETRIES = Counter(
    "agentcal_provider_retries_total",
    "Provider requests repeated after a failure",
    ["provider", "operation", "reason"],
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    budget: float = 15.0
    request_timeout: float = 10.0
    wait_initial: float = 0.2
    wait_max: float = 3.0
    wait_jitter: float = 0.3


DEFAULT_POLICY = RetryPolicy()


_DEADLINE: ContextVar[float | None] = ContextVar("agentcal_call_deadline", default=None)


@contextmanager
def call_budget(seconds: float) -> Iterator[None]:
    """Bound every provider request inside by one deadline, `seconds` from now
    (or the enclosing one, if that is sooner)."""
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


class BudgetExhausted(Exception):
    """The call's overall time budget ran out before the provider answered."""


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the provider asked to wait (`Retry-After` as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reason(exc: Exception) -> str:
    if isinstance(exc, _Retryable):
        return str(exc.response.status_code)
    return type(exc).__name__


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    provider: str,
    operation: str,
    safe: bool,
    policy: RetryPolicy = DEFAULT_POLICY,
    throttled: Callable[[httpx.Response], bool] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """Send `request`, repeating it where that is safe, within the policy's budget.

    Returns the last response, whatever its status: mapping statuses to errors is the
    client's job. Raises `BudgetExhausted` when time runs out, and the httpx error of
    the last attempt when a failure may not be repeated.

    `throttled` names further answers that, like 429, mean "not acted on, try later"
    and are repeated even for unsafe requests: Google reports its usage limits as
    403 `rateLimitExceeded` / `userRateLimitExceeded`.
    """
    deadline = time.monotonic() + policy.budget
    if (outer := _DEADLINE.get()) is not None:
        deadline = min(deadline, outer)
    budget = deadline - time.monotonic()
    if budget <= 0:
        raise BudgetExhausted(say("no time was left in this call's budget"))
    retried = 0

    def backoff(exc: Exception) -> bool | float:
        """How long to wait before the next attempt (never past the deadline), or False."""
        nonlocal retried
        remaining = deadline - time.monotonic()
        wait = retry_after(exc.response) if isinstance(exc, _Retryable) else None
        if wait is not None:  # the provider said when: honour it, if it fits
            return wait if wait < remaining else False
        repeatable = isinstance(exc, (_Retryable, *_NEVER_SENT)) or (
            safe and isinstance(exc, _MAYBE_SENT)
        )
        if not repeatable:
            return False
        # Exponential backoff with jitter, as stamina would, but cut to what is left.
        wait = min(policy.wait_max, policy.wait_initial * 2**retried)
        wait += random.uniform(0, policy.wait_jitter)
        retried += 1
        return min(wait, max(0.0, remaining - 0.05)) if remaining > 0.05 else False

    async def attempt_once() -> httpx.Response:
        started = time.perf_counter()
        try:
            timeout = max(0.0, min(policy.request_timeout, deadline - time.monotonic()))
            async with asyncio.timeout(timeout):
                response = await client.send(request, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except Exception as exc:
            PROVIDER_REQUESTS.labels(provider, operation, type(exc).__name__).inc()
            raise
        finally:
            PROVIDER_LATENCY.labels(provider, operation).observe(time.perf_counter() - started)
        PROVIDER_REQUESTS.labels(provider, operation, f"{response.status_code // 100}xx").inc()
        if response.status_code in RETRY_STATUSES and (safe or response.status_code == 429):
            raise _Retryable(response)
        if throttled is not None and throttled(response):
            raise _Retryable(response)
        return response

    tries = 0
    last_reason = ""
    try:
        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=policy.attempts,
            timeout=budget,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                if tries:
                    PROVIDER_RETRIES.labels(provider, operation, last_reason).inc()
                tries += 1
                try:
                    return await attempt_once()
                except Exception as exc:
                    last_reason = _reason(exc)
                    raise
    except _Retryable as exc:
        return exc.response  # out of attempts (or time): the caller maps this answer
    except (TimeoutError, *_MAYBE_SENT, *_NEVER_SENT) as exc:
        if time.monotonic() >= deadline - 0.06:
            raise BudgetExhausted(
                say_plural(
                    "gave up after {seconds} s ({count} attempt)",
                    "gave up after {seconds} s ({count} attempts)",
                    tries,
                    seconds=f"{budget:.3g}",
                )
            ) from exc
        raise
    raise AssertionError("unreachable: stamina yields at least one attempt")  # pragma: no cover


def pooled_client(
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    **options: Any,
) -> httpx.AsyncClient:
    """The one pooled client of a provider, owned by the app's lifespan."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": f"agentcal/{__version__}"},
        **options,
    )


async def send_mapped(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    label: str,
    unavailable: type[ProviderUnavailable],
    provider: str,
    operation: str,
    safe: bool,
    policy: RetryPolicy = DEFAULT_POLICY,
    throttled: Callable[[httpx.Response], bool] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """`send`, with transport failures raised as `unavailable` ("Cal.com could not be
    reached"); `label` names the provider for people."""
    try:
        return await send(
            client,
            request,
            provider=provider,
            operation=operation,
            safe=safe,
            policy=policy,
            throttled=throttled,
            auth=auth,
        )
    except BudgetExhausted as exc:
        raise unavailable(
            say("{provider} did not answer in time: {why}", provider=label, why=exc)
        ) from exc
    except (httpx.TimeoutException, TimeoutError) as exc:
        # TimeoutError: one attempt's own timeout, on a request not repeated.
        raise unavailable(say("{provider} did not answer in time", provider=label)) from exc
    except httpx.HTTPError as exc:  # transport, protocol, redirects: the provider is unusable
        raise unavailable(
            say(
                "{provider} could not be reached ({error})",
                provider=label,
                error=type(exc).__name__,
            )
        ) from exc


def parse(model: type[M], data: Any, error: type[ProviderError], label: str) -> M:
    """`data` as `model`, or `error`. The validation error is not chained: it quotes the
    answer, which may hold attendees' names or a token."""
    try:
        return model.model_validate(data)
    except ValidationError:
        raise error(
            say(
                "{provider} answered a {model} in an unexpected shape",
                provider=label,
                model=model.__name__,
            )
        ) from None


def segment(value: str) -> str:
    """A path segment, percent-encoded: ids are opaque (e-mails, `#`, `/`)."""
    return quote(value, safe="")
