"""Fault injection for the sandboxes: latency, error statuses, `Retry-After`, hangs.

Faults are rules, set from outside through `POST /sandbox/faults` (or directly on
`FaultInjector.rules` in tests), each for the requests whose path starts with a prefix,
optionally only for some methods, and for a number of requests (`times`, -1 = until
cleared). One request can also carry its own fault in an `X-Sandbox-Fault` header,
e.g. `status=503; retry-after=1`, `latency=200`, `delay-after=200`, or `hang`.

`latency` waits before the request is handled; `delay-after` handles it at once (a
booking is made, a busy time read) and holds its answer back: the provider has acted,
and the caller does not know yet. That is the moment a crash of the caller, or
another caller's request, is most harmful.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcal.sandbox.channels import platform_error

HANG_SECONDS = 60.0


@dataclass
class Fault:
    path_prefix: str = "/"
    methods: frozenset[str] = frozenset()
    status: int | None = None
    retry_after: float | None = None
    latency_ms: int = 0
    delay_after_ms: int = 0  # handled at once, answered this much later
    hang: bool = False
    body: Any = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (not self.methods or method in self.methods)


@dataclass
class FaultInjector:
    rules: list[Fault] = field(default_factory=list)

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule for this request, counted down (and dropped when used up)."""
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.times > 0:
                    rule.times -= 1
                    if rule.times == 0:
                        self.rules.remove(rule)
                return rule
        return None


def parse_header(value: str) -> Fault:
    """`status=503; retry-after=1; latency=200; hang` → a one-request fault."""
    fault = Fault()
    for part in value.split(";"):
        key, _, raw = part.strip().partition("=")
        key = key.strip().lower()
        if key == "status":
            fault.status = int(raw)
        elif key == "retry-after":
            fault.retry_after = float(raw)
        elif key == "latency":
            fault.latency_ms = int(raw)
        elif key == "delay-after":
            fault.delay_after_ms = int(raw)
        elif key == "hang":
            fault.hang = True
    return fault


def provider_error(path: str, status: int) -> dict[str, Any]:
    """The error envelope of the provider the path belongs to."""
    if "/google/" in path or path.startswith("/google"):
        if path.endswith("/token"):
            return {"error": "temporarily_unavailable", "error_description": f"HTTP {status}"}
        reason = "rateLimitExceeded" if status == 429 else "backendError"
        message = "Rate Limit Exceeded" if status == 429 else "Backend Error"
        return {
            "error": {
                "errors": [{"domain": "global", "reason": reason, "message": message}],
                "code": status,
                "message": message,
            }
        }
    code = "ThrottlerException" if status == 429 else "InternalServerErrorException"
    return {
        "status": "error",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "path": path,
        "error": {"code": code, "message": f"Sandbox fault: HTTP {status}"},
    }


class FaultMiddleware:
    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        # The sandboxes' own admin routes take no faults; the webhook sink does, as a
        # receiver that fails, stalls or rate-limits.
        admin = path.startswith("/sandbox/") and not path.startswith("/sandbox/webhooks/")
        if scope["type"] != "http" or admin:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"x-sandbox-fault")
        try:
            fault = parse_header(header.decode()) if header else None
        except ValueError:
            fault = None
        fault = fault or self.injector.take(scope["method"], path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.hang:
            await asyncio.sleep(HANG_SECONDS)
        if fault.status is None:
            if fault.delay_after_ms:
                send = _held(send, fault.delay_after_ms / 1000)
            await self.app(scope, receive, send)
            return
        if fault.body is not None:
            payload = fault.body
        else:
            payload = platform_error(path, fault.status, fault.retry_after) or provider_error(
                path, fault.status
            )
        body = json.dumps(payload).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if fault.retry_after is not None:
            headers.append((b"retry-after", f"{fault.retry_after:g}".encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _held(send: Send, seconds: float) -> Send:
    """`send`, holding the start of the answer back `seconds`: by then the request has
    been handled, as the app answers only once it is done."""

    async def held(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return held
