"""The API's route class: request bodies are JSON as the standard has it, nothing more.

A body sent without `Content-Type: application/json` (or another `+json` type) is a
415 that names the header, rather than a validation error about the body's shape.
Python's `json` reads `NaN`, `Infinity` and `-Infinity` (and turns `1e400` into
infinity), none of which is a JSON number: a client sending them has a bug, and storing
them would hand other clients a document they cannot parse. They are refused with a 422
that names the field, wherever it is, before the body reaches its model.
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from agentcal.errors import UnsupportedMediaType

_MESSAGE = "must be a finite JSON number (NaN and Infinity are not JSON); send null to unset it"


def _non_finite(value: Any) -> Iterator[tuple[int | str, ...]]:
    """The paths of the non-finite numbers in `value`, depth first; no recursion, since a
    hostile body may nest thousands of levels deep."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            yield path
        elif isinstance(item, dict):
            stack.extend(((*path, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(item))))


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def _check_body(request: Request) -> None:
    # Read here, in full, before FastAPI does: a body over the size limit then fails
    # as a 413 (`agentcal.request_limits`), not as FastAPI's "error parsing the body".
    body = await request.body()
    if not body:
        return  # no body: the route says whether it needs one
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        got = f"got {content_type!r}" if content_type else "the header is missing"
        raise UnsupportedMediaType(
            f"send the body as JSON with the header 'Content-Type: application/json' ({got})"
        )
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON the route can read: it answers that, as it always has
    request._json = parsed  # read once: the route takes it from here
    errors = [
        {"type": "value_error", "loc": ("body", *path), "msg": _MESSAGE, "input": None}
        for path in _non_finite(parsed)
    ]
    if errors:
        raise RequestValidationError(errors)


class JSONRoute(APIRoute):
    """An `APIRoute` whose JSON request bodies hold finite numbers only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            await _check_body(request)
            return await handler(request)

        return strict
