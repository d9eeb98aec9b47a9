"""Rate limits per access token (the management API) and per bot (its tools and calls).

Counted with the `limits` library: in this process's memory by default, in Redis when
`AGENTCAL_REDIS_URL` is set, so that replicas share one count. Each scope may have
several limits (`"20/second;600/minute"`: a burst and a sustained rate); a request
counts against them in order and stops at the first one exhausted. Every limited
response carries `RateLimit-Policy` and `RateLimit` (the IETF draft's structured
fields, for the limit nearest to exhaustion); a refused one is a 429 problem with
`Retry-After`.

The management API is counted per token before anything else runs (keys hold a hash
of the token, never the token; a request without one counts against its client
address). A bot's tools and tool calls are counted per bot once the caller is
authenticated (`admit_bot`), so that nobody without a token can spend a bot's budget.
Health, metrics and the API documents are never limited. If the store fails (Redis
down), requests pass and the failure is logged: a broken counter must not take the
API down with it.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.strategies import RateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcal.errors import TooManyRequests
from agentcal.kit.problems import problem_response

log = structlog.get_logger("agentcal.rate_limits")

LIMITED = Counter("agentcal_rate_limited_total", "Requests refused by a rate limit", ["scope"])

# A bot's tools and calls, whatever channel carries them: counted per bot (`admit_bot`).
_BOT_PATHS = re.compile(r"^/(?:api/v1/bots/[^/]+/(?:tools|tool-calls)|mcp/bots/[^/]+)/?$")
_HEADERS = "agentcal.rate_limit_headers"  # scope key: `admit_bot` leaves them here


def parse_limits(text: str) -> list[RateLimitItem]:
    """`"20/second;600/minute"` as limits; `""` or `"off"` for none. Raises `ValueError`."""
    text = text.strip()
    if text.lower() in ("", "off"):
        return []
    return list(parse_many(text))


@dataclass(frozen=True, slots=True)
class _Verdict:
    allowed: bool
    limit: RateLimitItem
    remaining: int
    reset_in: int  # seconds until the limit frees a request


class RateLimits:
    """The limiter and the limits of each scope; `check` counts one request."""

    def __init__(self, *, per_token: str, per_bot: str, redis_url: str | None = None) -> None:
        self.scopes = {"token": parse_limits(per_token), "bot": parse_limits(per_bot)}
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # Short timeouts: a slow Redis must not make every request slow.
            storage = storage_from_string(
                uri, implementation="redispy", socket_timeout=0.5, socket_connect_timeout=0.5
            )
        else:
            storage = storage_from_string("async+memory://")
        self.limiter: RateLimiter = SlidingWindowCounterRateLimiter(storage)

    def token_key(self, scope: Scope) -> str | None:
        """The key a management API request counts against, or None (not limited here)."""
        path: str = scope["path"]
        if not path.startswith("/api/") or _BOT_PATHS.match(path):
            return None
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hashlib.sha256(value).hexdigest()[:32]
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"

    async def check(self, scope_name: str, key: str) -> _Verdict | None:
        limits = self.scopes[scope_name]
        if not limits:
            return None
        verdicts = []
        for limit in limits:
            allowed = await self.limiter.hit(limit, "agentcal", scope_name, key)
            stats = await self.limiter.get_window_stats(limit, "agentcal", scope_name, key)
            reset_in = max(0, math.ceil(stats.reset_time - time.time()))
            verdicts.append(_Verdict(allowed, limit, max(0, stats.remaining), reset_in))
            if not allowed:
                return verdicts[-1]
        return min(verdicts, key=lambda v: (v.remaining, v.limit.get_expiry()))


def _policy(scope_name: str, limits: list[RateLimitItem]) -> str:
    return ", ".join(
        f'"{scope_name}-{limit.GRANULARITY.name}";q={limit.amount};w={limit.get_expiry()}'
        for limit in limits
    )


async def _count(
    limits: RateLimits, scope_name: str, key: str
) -> tuple[list[tuple[bytes, bytes]], TooManyRequests | None]:
    """Count one request: the headers to answer with, and the error if it is refused."""
    try:
        verdict = await limits.check(scope_name, key)
    except Exception:
        log.warning("the rate limit store failed; the request passes", exc_info=True)
        return [], None
    if verdict is None:
        return [], None
    limit = verdict.limit
    state = f'"{scope_name}-{limit.GRANULARITY.name}";r={verdict.remaining};t={verdict.reset_in}'
    headers = [
        (b"ratelimit-policy", _policy(scope_name, limits.scopes[scope_name]).encode()),
        (b"ratelimit", state.encode()),
    ]
    if verdict.allowed:
        return headers, None
    LIMITED.labels(scope_name).inc()
    whose = "this bot's tools" if scope_name == "bot" else "this access token"
    error = TooManyRequests(
        f"too many requests for {whose}: at most {limit.amount} per {limit.get_expiry()} s; "
        f"retry after {max(1, verdict.reset_in)} s",
        headers={
            "Retry-After": str(max(1, verdict.reset_in)),
            **{name.decode(): value.decode() for name, value in headers},
        },
    )
    return headers, error


async def admit_bot(scope: Scope, bot_id: uuid.UUID) -> None:
    """Count one request for the bot's tools; `TooManyRequests` (429) when over its limit.
    The `RateLimit` headers go on the response through `RateLimitMiddleware`."""
    headers, error = await _count(scope["app"].state.rate_limits, "bot", str(bot_id))
    if error is not None:
        raise error
    scope[_HEADERS] = headers


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = self.limits.token_key(scope)
        if key is not None:
            headers, error = await _count(self.limits, "token", key)
            if error is not None:
                await problem_response(error)(scope, receive, send)
                return
            scope[_HEADERS] = headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get(_HEADERS):
                message["headers"] = [*message.get("headers", []), *scope[_HEADERS]]
            await send(message)

        await self.app(scope, receive, send_with_headers)
