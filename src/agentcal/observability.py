"""Request ids, access logs and Prometheus metrics, as one pure-ASGI middleware.

Pure ASGI rather than `BaseHTTPMiddleware`: it adds no task or stream copy per request.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcal.errors import PROBLEM_JSON, problem_type

REQUESTS = Counter(
    "agentcal_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "agentcal_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Any other method a client invents is counted as "other": labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = structlog.get_logger("agentcal.access")


def _route_template(scope: Scope) -> str:
    # Label by template (`/api/v1/bots/{id}`), never by raw path: bounded cardinality.
    # The router records the route it matched in the (shared) scope.
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


async def _send_500(send: Send) -> None:
    body = json.dumps(
        {
            "type": problem_type("internal-error"),
            "title": "Internal Server Error",
            "status": 500,
            "detail": "an unexpected error occurred; it has been logged with this request's id",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Handled here, inside the request id's context, rather than by Starlette's
                # outermost error middleware: the log line and the 500 both carry the id.
                log.exception("unhandled error", path=scope["path"])
                if not started_response:
                    await _send_500(send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = _route_template(scope)
                method = scope["method"] if scope["method"] in _METHODS else "other"
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
