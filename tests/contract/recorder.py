"""An ASGI wrapper around the sandbox app that validates every provider exchange as it happens.

It sits outside everything else (fault injection included), so it sees each request exactly
as the client sent it and each answer exactly as the client receives it. Validation runs in
the sandbox's server thread *before* the last byte of the answer is sent, so by the time a
client call returns, its exchange is recorded: the test that made it can be failed for it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.contract import specs

# Sandbox mount point -> (provider, the path prefix the real provider has in its place).
PREFIXES: tuple[tuple[str, specs.Provider, str], ...] = (
    ("/google/token", "google_oauth", "/token"),
    ("/google/calendar/v3/", "google", "/calendar/v3/"),
    ("/calcom/", "calcom", "/"),
)


def provider_path(path: str) -> tuple[specs.Provider, str] | None:
    """`/calcom/v2/me` -> ("calcom", "/v2/me"); None for /sandbox/... and anything else."""
    for prefix, provider, replacement in PREFIXES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return provider, replacement + path[len(prefix) :]
    if path.startswith("/google/"):
        # Under /google but neither the API nor the token endpoint: not in any document.
        return "google", path[len("/google") :]
    return None


@dataclass
class Exchange:
    """One request to a provider sandbox and, once it is answered, the answer."""

    provider: specs.Provider
    method: str
    path: str  # as the real provider would see it
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    operation: str
    request_violations: tuple[str, ...]
    status: int | None = None
    response_body: bytes = b""
    response_violations: tuple[str, ...] = ()
    response_validated: bool = False
    # Set when the test that made it is marked `spec_violation_expected`.
    expected: bool = False

    @property
    def violations(self) -> list[str]:
        return [
            *(f"request: {v}" for v in self.request_violations),
            *(f"response {self.status}: {v}" for v in self.response_violations),
        ]

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        target = f"{self.path}?{query}" if query else self.path
        lines = [f"{self.method} {target} [{self.operation}]"]
        lines.extend(f"    {v}" for v in self.violations)
        return "\n".join(lines)


@dataclass
class ContractLog:
    """Every validated exchange of the session (thread-safe: the sandbox has its own thread)."""

    exchanges: list[Exchange] = field(default_factory=list)
    skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _checked: int = 0  # exchanges before this index were already judged by a test

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def skip(self) -> None:
        with self._lock:
            self.skipped += 1

    def take_unchecked(self) -> list[Exchange]:
        """The exchanges no test has judged yet (made since the last call)."""
        with self._lock:
            new = self.exchanges[self._checked :]
            self._checked = len(self.exchanges)
            return new

    def counts(self) -> dict[tuple[str, str], Counter[str]]:
        """Per (provider, operation): requests, responses validated, violations (+ expected)."""
        with self._lock:
            exchanges = list(self.exchanges)
        table: dict[tuple[str, str], Counter[str]] = {}
        for ex in exchanges:
            row = table.setdefault((ex.provider, ex.operation), Counter())
            row["requests"] += 1
            row["responses"] += ex.response_validated
            row["violations"] += bool(ex.violations) and not ex.expected
            row["expected"] += bool(ex.violations) and ex.expected
        return table


CONTRACT_LOG = ContractLog()


class ContractRecorder:
    """`ContractRecorder(app)`: validate and record every exchange with /calcom or /google."""

    def __init__(self, app: ASGIApp, log: ContractLog = CONTRACT_LOG) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = provider_path(scope.get("path", "")) if scope["type"] == "http" else None
        if target is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "x-sandbox-fault" in headers:
            # A request carrying its own fault tests the client's resilience, not the contract
            # (and may never be answered at all, e.g. `hang`).
            self.log.skip()
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer_body(receive)
        provider, path = target
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        method = scope["method"]
        try:
            check = specs.check_request(provider, method, path, query, headers, body or None)
        except Exception as exc:  # a validator bug must show up, not pass silently
            check = specs.Check(specs.UNKNOWN, (f"the validator crashed: {exc!r}",))
        exchange = Exchange(
            provider, method, path, query, headers, body, check.operation, check.violations
        )
        self.log.add(exchange)
        await self.app(scope, receive, self._watch(exchange, send))

    def _watch(self, exchange: Exchange, send: Send) -> Send:
        chunks: list[bytes] = []
        response_headers: list[tuple[str, str]] = []

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                response_headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Judge before the last byte leaves, so the client cannot return first.
                    exchange.response_body = b"".join(chunks)
                    self._judge_response(exchange, response_headers)
            await send(message)

        return watching_send

    def _judge_response(self, exchange: Exchange, headers: list[tuple[str, str]]) -> None:
        assert exchange.status is not None
        try:
            check = specs.check_response(
                exchange.provider,
                exchange.method,
                exchange.path,
                exchange.status,
                headers,
                exchange.response_body or None,
                exchange.query,
                exchange.body or None,
            )
        except Exception as exc:
            check = specs.Check(exchange.operation, (f"the validator crashed: {exc!r}",))
        exchange.response_violations = check.violations
        exchange.response_validated = check.validated


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that replays it to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app will see an empty body
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: disconnect notifications, as usual

    return body, replay
