"""Every error leaves as RFC 9457 problem details; validation errors name their fields."""

from __future__ import annotations

from http import HTTPMethod, HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from agentcal.crypto.keyring import SecretKeyError
from agentcal.errors import PROBLEM_JSON, AgentcalError, problem_type

log = structlog.get_logger("agentcal.errors")

# The one field-name mix-up the seeds invite: Cal.com says `unitId`, functions `unityId`.
_UNIT_HINTS = {
    "unityId": "this endpoint names the unit 'unitId' (functions use 'unityId')",
    "unitId": "this endpoint names the unit 'unityId' (Cal.com integrations use 'unitId')",
}


_TYPE_MESSAGES = {
    "bool_type": "must be a JSON boolean (true or false)",
    "bool_parsing": "must be a JSON boolean (true or false)",
    "int_type": "must be a JSON integer",
    "int_parsing": "must be a JSON integer",
    "string_type": "must be a JSON string",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "list_type": "must be a JSON array",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}


def problem(status: int, detail: str, slug: str | None = None, **extra: Any) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    body = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('body', 'googleCalendar', 'workingHours', 0, 'start')` becomes
    `googleCalendar.workingHours[0].start`."""
    path = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    name = error["loc"][-1] if error.get("loc") else ""
    if kind == "extra_forbidden":
        return _UNIT_HINTS.get(str(name), "unknown field; remove it")
    if kind == "missing":
        return "is required" if len(error["loc"]) > 1 else "a JSON body is required"
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


async def _agentcal_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentcalError)
    return JSONResponse(
        exc.body(), status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "the request body is not valid JSON", "invalid-json")
    fields = [
        {"field": field_path(tuple(e.get("loc", ()))), "message": _message(e)} for e in errors
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:3])
    return problem(422, summary, "validation-error", errors=fields)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. (Starlette's 405 names only the
    methods of the first route whose path matched: `GET` alone for `/bots/{id}`.)"""
    allowed = []
    for method in HTTPMethod:
        probe = {**request.scope, "method": method.value}
        for route in request.app.router.routes:
            # A mount matches every method of every path under it: its app says itself.
            if not isinstance(route, Mount) and route.matches(probe)[0] == Match.FULL:
                allowed.append(method.value)
                break
    return allowed


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such endpoint; see /docs for the API"
    if exc.status_code == 400 and "parsing the body" in detail:
        return problem(400, "the request body is not valid JSON", "invalid-json")
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; this path takes {headers['Allow']}"
    response = problem(exc.status_code, detail)
    for key, value in headers.items():
        response.headers[key] = value
    return response


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # Two requests raced past a uniqueness check (same unit name, same e-mail): the
    # database kept the first; the second is a conflict, not a server error.
    log.info("integrity error", path=request.url.path, error=str(exc.__cause__ or exc)[:200])
    return problem(
        409,
        "the request conflicts with a concurrent change; read the current state and retry",
        "conflict",
    )


async def _stale(request: Request, exc: Exception) -> JSONResponse:
    # A concurrent DELETE removed the row between this request's read and its write.
    log.info("stale row", path=request.url.path)
    return problem(404, "the object was deleted while this request ran", "not-found")


# PostgreSQL: deadlock, serialization failure, lock not available. SQLite: busy past its
# timeout. All are transient contention, safe for the client to retry.
_TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def _transient(exc: DBAPIError) -> bool:
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(original)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not _transient(exc):
        raise exc  # a real bug: ObservabilityMiddleware answers it as a logged 500
    log.warning("database contention", path=request.url.path, error=str(exc.orig)[:200])
    response = problem(503, "the database is busy with concurrent changes; retry", "busy")
    response.headers["Retry-After"] = "1"
    return response


async def _secret_key(request: Request, exc: Exception) -> JSONResponse:
    # An operator dropped a key that stored secrets still need: say so, don't 500.
    log.error("secret cannot be opened", path=request.url.path, error=str(exc))
    return problem(
        503,
        "a stored secret cannot be decrypted with the configured keys; "
        "the operator must restore the missing key to AGENTCAL_SECRET_KEYS",
        "secret-key-missing",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentcalError, _agentcal_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(SecretKeyError, _secret_key)
    # Anything else is answered (500, with the request id) by ObservabilityMiddleware.
