"""The OpenAPI document as the API really answers: every error of every operation.

FastAPI documents each operation's success, and for invalid input its own
`{"detail": [...]}`, which agentcal never sends. `describe_errors` completes the
generated document: every error is RFC 9457 problem details (`application/problem+json`,
the `Problem` schema), and each operation lists the statuses it can answer, worked out
from what the operation is:

* any operation: 431 (request headers too large) and 500 (a bug, logged under the
  request's `X-Request-ID`);
* one that takes a JSON body: 400 (not JSON), 413 (too large), 415 (not sent as JSON);
* one with parameters or a body: 422, whose `errors` name each invalid field;
* one that authenticates (it names the Bearer scheme): 401 with `WWW-Authenticate`,
  503 (the database busy, `Retry-After`), 404 when its path names an object, 409 when
  it writes (a concurrent change);
* one under `/api/` or `/hooks/`: 429 with `Retry-After`, `RateLimit` and
  `RateLimit-Policy`, the latter two on its successes too;
* one with `page` and `limit`: `Link` to the next page on its 200.

A router declares with `responses=` what only it knows: `responses={403: {"description":
…}}` for admins only, a 404 for an id in the body, what a 409 means there. Its
description wins; the schema, the example and the headers are filled in here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from agentcal.errors import PROBLEM_JSON, problem_type

_SCHEMAS = "#/components/schemas/"
_HEADERS = "#/components/headers/"
_WRITES = frozenset({"post", "put", "patch", "delete"})
_OPERATIONS = _WRITES | {"get", "head", "options", "trace"}
_LIMITED = ("/api/", "/hooks/")  # rate-limited paths: the API, and the voice platforms' hooks


def _no_default(schema: dict[str, Any]) -> None:
    # `errors` is left out when there are none; it is never null.
    schema["properties"]["errors"].pop("default", None)


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(
        description="where: `name`, `googleCalendar.workingHours[0].start`, `Idempotency-Key`"
    )
    message: str = Field(description="what is wrong with it")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    model_config = ConfigDict(json_schema_extra=_no_default)

    type: str = Field(
        pattern=r"^(urn:agentcal:problem:[a-z0-9-]+|about:blank)$",
        description=(
            "`urn:agentcal:problem:<slug>`, stable, to branch on; `about:blank` for what "
            "the HTTP layer answers (no such path, a method not allowed)"
        ),
    )
    title: str = Field(description="the HTTP status's phrase")
    status: int = Field(ge=400, le=599, description="the HTTP status")
    detail: str = Field(description="what went wrong, and what to do about it")
    errors: list[FieldError] | SkipJsonSchema[None] = Field(
        default=None, description="on a 422, every invalid field"
    )


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


HEADERS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": _header(
        'The Bearer challenge, e.g. `Bearer realm="agentcal", error="invalid_token"`',
        {"type": "string", "pattern": '^Bearer realm="agentcal"'},
    ),
    "Retry-After": _header("Seconds to wait before retrying", {"type": "integer", "minimum": 0}),
    "RateLimit": _header(
        "What is left of the limit nearest to exhaustion: "
        '`"token-MINUTE";r=<requests left>;t=<seconds until the window resets>`',
        {"type": "string"},
    ),
    "RateLimit-Policy": _header(
        'The limits that apply, e.g. `"token-SECOND";q=50;w=1, "token-MINUTE";q=1200;w=60`',
        {"type": "string"},
    ),
    "X-Request-ID": _header(
        "This request's id, under which the error was logged; quote it when reporting it",
        {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    ),
    "Link": _header(
        'The next page, when there is one: `<…?page=2&limit=50>; rel="next"`',
        {"type": "string"},
    ),
}


def _ref(name: str, *, required: bool) -> dict[str, Any]:
    # A `$ref` takes no siblings in a header object: "required" lives in the component
    # for the one header that is always sent, and a copy is made for the others.
    if required:
        return {**copy.deepcopy(HEADERS[name]), "required": True}
    return {"$ref": _HEADERS + name}


@dataclass(frozen=True)
class _Answer:
    """An error status an operation may answer: what it means, an example, its headers."""

    description: str
    slug: str | None
    detail: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def example(self, status: int) -> dict[str, Any]:
        return {
            "type": problem_type(self.slug) if self.slug else "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": self.detail,
            **self.extra,
        }

    def headers(self) -> dict[str, Any]:
        return {
            **{name: _ref(name, required=True) for name in self.required},
            **{name: _ref(name, required=False) for name in self.optional},
        }


_EXAMPLE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_RATE_HEADERS = ("Retry-After", "RateLimit", "RateLimit-Policy")
ANSWERS: dict[int, _Answer] = {
    400: _Answer(
        "The body is not valid JSON (`invalid-json`).",
        "invalid-json",
        "the request body is not valid JSON",
    ),
    401: _Answer(
        "No valid access token: send `Authorization: Bearer <token>` (`unauthorized`).",
        "unauthorized",
        "the access token is not valid",
        required=("WWW-Authenticate",),
    ),
    403: _Answer(
        "The token's user may not do this (`forbidden`).",
        "forbidden",
        "this needs an admin of the institution; members manage bots and functions",
    ),
    404: _Answer(
        "An object the request names does not exist, or is not visible to this token "
        "(`not-found`).",
        "not-found",
        f"bot {_EXAMPLE_ID} does not exist or is not visible to this token",
    ),
    409: _Answer(
        "The request conflicts with a concurrent change (`conflict`): read the current "
        "state and retry.",
        "conflict",
        "the request conflicts with a concurrent change; read the current state and retry",
    ),
    413: _Answer(
        "The body is larger than the server's limit (`content-too-large`).",
        "content-too-large",
        "the request body is larger than 1048576 bytes; send less "
        "(the operator sets the limit with AGENTCAL_MAX_BODY_BYTES)",
    ),
    415: _Answer(
        "A body not sent as `Content-Type: application/json` (`unsupported-media-type`).",
        "unsupported-media-type",
        "send the body as JSON with the header 'Content-Type: application/json' "
        "(the header is missing)",
    ),
    422: _Answer(
        "A parameter or a field of the body is not valid (`validation-error`): `errors` "
        "names each one.",
        "validation-error",
        "name: is required",
        extra={"errors": [{"field": "name", "message": "is required"}]},
    ),
    429: _Answer(
        "Over the rate limit (`rate-limited`): retry after `Retry-After` seconds.",
        "rate-limited",
        "too many requests for this access token: at most 50 per 1 s; retry after 1 s",
        required=_RATE_HEADERS,
    ),
    431: _Answer(
        "The request headers are larger than the server's limit (`headers-too-large`).",
        "headers-too-large",
        "the request headers are 20480 bytes in total, more than the 16384 allowed; "
        "send fewer or shorter headers",
    ),
    500: _Answer(
        "An unexpected error (`internal-error`), logged under the request's `X-Request-ID`.",
        "internal-error",
        "an unexpected error occurred; it has been logged with this request's id",
        required=("X-Request-ID",),
    ),
    503: _Answer(
        "Cannot answer now: the database is busy (`busy`, with `Retry-After`), or a stored "
        "secret cannot be decrypted with the configured keys (`secret-key-missing`).",
        "busy",
        "the database is busy with concurrent changes; retry",
        optional=("Retry-After",),
    ),
}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses every operation of this kind can answer."""
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    statuses = {431, 500}
    if body:
        statuses |= {400, 413, 415}
    if body or parameters:
        statuses.add(422)
    if operation.get("security"):
        statuses |= {401, 503}
        if any(p.get("in") == "path" for p in parameters):
            statuses.add(404)
        if method in _WRITES:
            statuses.add(409)
    if path.startswith(_LIMITED):
        statuses.add(429)
    return statuses


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _SCHEMAS + "HTTPValidationError")


def _problem(status: int, declared: dict[str, Any]) -> dict[str, Any]:
    answer = ANSWERS.get(status) or _Answer(HTTPStatus(status).phrase, None, "")
    description = declared.get("description")
    if not description or description == HTTPStatus(status).phrase:
        description = answer.description
    example = answer.example(status) if answer.detail else None
    media: dict[str, Any] = {"schema": {"$ref": _SCHEMAS + "Problem"}}
    if example:
        media["example"] = example
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_JSON: media}}
    headers = {**answer.headers(), **declared.get("headers", {})}
    if headers:
        response["headers"] = headers
    return response


def _describe(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in _statuses(path, method, operation) | declared:
        given = responses.get(str(status), {})
        if _is_fastapi_validation(given):
            given = {}
        responses[str(status)] = _problem(status, given)
    query = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    for code, response in responses.items():
        if not code.startswith("2"):
            continue
        headers = response.setdefault("headers", {})
        if path.startswith(_LIMITED):
            headers.update({name: _ref(name, required=False) for name in _RATE_HEADERS[1:]})
        if code == "200" and {"page", "limit"} <= query:
            headers["Link"] = _ref("Link", required=False)
        if not headers:
            del response["headers"]
    operation["responses"] = dict(sorted(responses.items()))


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template=_SCHEMAS + "{model}", mode="serialization")
    return {**schema.pop("$defs"), "Problem": schema}


def describe_errors(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of FastAPI's document with every operation's errors as agentcal answers them."""
    document = copy.deepcopy(document)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in _OPERATIONS:
                _describe(path, method, operation)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    if "loc" in schemas.get("ValidationError", {}).get("properties", {}):
        del schemas["ValidationError"]  # FastAPI's item of HTTPValidationError
    schemas.update(_problem_schemas())
    components["schemas"] = dict(sorted(schemas.items()))
    components["headers"] = copy.deepcopy(HEADERS)
    return document


def install(app: FastAPI) -> None:
    """Serve `describe_errors` of FastAPI's document at the app's `openapi_url`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
