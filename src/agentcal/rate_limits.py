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
authenticated (`admit_bot`), so that nobody without a token can spend a bot's budget;
the same goes for the voice platforms' hooks (`/hooks/…`), authenticated by their channel.
Failed authentications count against the client address too: an address past its
budget of 401s is refused for the rest of the window, by this process, without asking
the store again. Health, metrics and the API documents are never limited. If the store
fails (Redis down), requests pass uncounted for `STORE_PAUSE` seconds and the failure
is logged once: a broken counter must not take the API down, nor slow every request.
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
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
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

    def __init__(
        self,
        *,
        per_token: str,
        per_bot: str,
        auth_failures: str = "off",
        redis_url: str | None = None,
    ) -> None:
        self.scopes = {
            "token": parse_limits(per_token),
            "bot": parse_limits(per_bot),
            # 401s an address may cause before its requests are refused: guessing
            # tokens costs a database lookup each, whatever the token.
            "unauthenticated": parse_limits(auth_failures),
        }
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # Short timeouts and no retries: a slow or absent Redis must not make every
            # request slow (and after a failure it is left alone for a while: `_count`).
            storage = storage_from_string(
                uri,
                implementation="redispy",
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]  # passed on to redis
            )
        else:
            storage = storage_from_string("async+memory://")
        self.limiter: RateLimiter = SlidingWindowCounterRateLimiter(storage)
        self.store_down_until = 0.0  # monotonic time: until then, requests pass uncounted
        # Addresses that spent their budget of failed authentications, and until when
        # (monotonic), as this process saw them: refused without asking the store.
        self.refused_addresses: dict[str, float] = {}

    def token_key(self, scope: Scope) -> str | None:
        """The key a management API request counts against, or None (not limited here)."""
        path: str = scope["path"]
        if not path.startswith("/api/") or _BOT_PATHS.match(path):
            return None
        token = _bearer_token(scope)
        if token is not None:
            return hashlib.sha256(token).hexdigest()[:32]
        return f"address:{client_address(scope)}"

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


def _bearer_token(scope: Scope) -> bytes | None:
    """The token of `Authorization: Bearer <token>`, read as authentication reads it
    (any case of "Bearer", spaces around the token), so that spelling the header
    another way is not another budget."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# After the store fails, how long requests pass uncounted before it is asked again.
STORE_PAUSE = 5.0


def _policy(scope_name: str, limits: list[RateLimitItem]) -> str:
    return ", ".join(
        f'"{scope_name}-{limit.GRANULARITY.name}";q={limit.amount};w={limit.get_expiry()}'
        for limit in limits
    )


async def _count(
    limits: RateLimits, scope_name: str, key: str
) -> tuple[list[tuple[bytes, bytes]], TooManyRequests | None]:
    """Count one request: the headers to answer with, and the error if it is refused."""
    if time.monotonic() < limits.store_down_until:
        return [], None
    try:
        verdict = await limits.check(scope_name, key)
    except Exception as exc:
        limits.store_down_until = time.monotonic() + STORE_PAUSE
        log.warning(
            "the rate limit store failed; requests pass uncounted for a while",
            seconds=STORE_PAUSE,
            error=f"{type(exc).__name__}: {exc}"[:200],
        )
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


def _failing_party(path: str, address: str) -> str:
    """Whose failed authentications count together: a client address; on `/hooks/`, an
    address *and* channel. A voice platform calls every tenant's channels from the same
    few addresses, so one channel sent a wrong secret (a stale tool, or on purpose) must
    not lock the platform out of the others."""
    if path.startswith("/hooks/"):
        parts = path.split("/", 4)  # "", "hooks", platform, channel id, …
        return f"{address} {parts[3] if len(parts) > 3 else ''}"
    return address


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # `/hooks/`: voice platforms' calls, counted per bot like any tool call, and
        # their failed authentications per address like bad tokens.
        if not path.startswith(("/api/", "/mcp/", "/hooks/")):
            await self.app(scope, receive, send)
            return
        address = _failing_party(path, client_address(scope))
        refused_until = self.limits.refused_addresses.get(address, 0.0)
        if refused_until > time.monotonic():
            wait = max(1, math.ceil(refused_until - time.monotonic()))
            refusal = TooManyRequests(
                f"too many requests with an invalid access token from this address; "
                f"retry after {wait} s",
                headers={"Retry-After": str(wait)},
            )
            await problem_response(refusal)(scope, receive, send)
            return
        key = self.limits.token_key(scope)
        if key is not None:
            headers, error = await _count(self.limits, "token", key)
            if error is not None:
                await problem_response(error)(scope, receive, send)
                return
            scope[_HEADERS] = headers
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if scope.get(_HEADERS):
                    message["headers"] = [*message.get("headers", []), *scope[_HEADERS]]
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if status == 401:
            await self._count_failure(address)

    async def _count_failure(self, address: str) -> None:
        _, error = await _count(self.limits, "unauthenticated", address)
        if error is not None:
            refused = self.limits.refused_addresses
            if len(refused) > 10_000:  # forget the ones whose time is up
                now = time.monotonic()
                for stale in [a for a, until in refused.items() if until <= now]:
                    del refused[stale]
            refused[address] = time.monotonic() + int(error.headers["Retry-After"])
