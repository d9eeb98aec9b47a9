"""Size limits on requests, enforced before anything reads them.

Headers over `max_header_bytes` in total are a 431; a body over `max_body_bytes` is a
413, at once when its `Content-Length` says so, and otherwise as soon as the bytes
received pass the limit, so a client can never make agentcal hold more than the limit
of one request in memory. Pure ASGI, like `ObservabilityMiddleware`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcal.errors import ContentTooLarge, HeadersTooLarge
from agentcal.kit.problems import problem_response


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it gets here
    return None


def _too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"the request body is larger than {limit} bytes; send less "
        "(the operator sets the limit with AGENTCAL_MAX_BODY_BYTES)"
    )


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # As on the wire: "name: value" and its line end.
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            error = HeadersTooLarge(
                f"the request headers are {header_bytes} bytes in total, more than the "
                f"{self.max_header_bytes} allowed; send fewer or shorter headers"
            )
            await problem_response(error)(scope, receive, send)
            return
        limit = self.max_body_bytes
        length = _content_length(scope)
        if length is not None and length > limit:
            await problem_response(_too_large(limit))(scope, receive, send)
            return

        received = 0
        started = False

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_limited, send_tracked)
        except ContentTooLarge as error:
            # Raised while a route read the body, past the error handlers (a body
            # read outside FastAPI's routes, e.g. by the MCP transport).
            if started:
                raise
            await problem_response(error)(scope, receive, send)
