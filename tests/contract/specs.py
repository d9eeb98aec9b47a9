"""The providers' official specs, parsed once, and validators for requests and responses.

Documents (`specs/` at the repository's root; its README, "the README" below, gives their
provenance and lists their defects, and every workaround below names the one it is for; a
missing document fails the tests that need it, it never skips them):

* Cal.com: `calcom-v2-openapi.json` with every `oneOf` turned into `anyOf` (as published, no
  valid booking body matches exactly one branch), validated with openapi-core, plus the rules
  the schemas only state in descriptions (`_calcom_rules`).
* Google Calendar: `google-calendar-v3-openapi.yaml` with openapi-core (types, enums, ranges,
  formats) and `google-calendar-v3-discovery.json` for what the conversion lost (required
  fields and parameters, the newer fields): see `discovery.py`.
* Google's OAuth token endpoint is in neither document: RFC 6749 by hand, see `oauth.py`.

`validate_request` / `validate_response` return human-readable violations (empty = fine);
`check_request` / `check_response` also name the operation, for the session's counts.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.contract import discovery, oauth

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
CALCOM_SPEC = SPECS_DIR / "calcom-v2-openapi.json"
GOOGLE_SPEC = SPECS_DIR / "google-calendar-v3-openapi.yaml"
GOOGLE_DISCOVERY = SPECS_DIR / "google-calendar-v3-discovery.json"

# Real hosts: Cal.com's `servers` is empty, so openapi-core is given the README's base URL.
CALCOM_HOST = "https://api.cal.com"
GOOGLE_HOST = "https://www.googleapis.com"
# The Google OpenAPI keeps `/calendar/v3` in `servers`, not in its `paths`.
GOOGLE_PREFIX = "/calendar/v3"

Provider = Literal["calcom", "google", "google_oauth"]
QueryLike = Mapping[str, str] | Sequence[tuple[str, str]]
HeadersLike = Mapping[str, str] | Sequence[tuple[str, str]]
BodyLike = bytes | str | dict[str, Any] | list[Any] | None

UNKNOWN = "(not in the spec)"
# /v2/slots' 200 schema is wrong (README, Cal.com problem 3): its envelope is checked by hand.
SLOTS_OPERATION = "SlotsController_2024_09_04_getAvailableSlots"
_BOOKING_CREATE = "BookingsController_2024_08_13_createBooking"
_RESERVE_SLOT = "SlotsController_2024_09_04_reserveSlot"

# openapi-core's lazily built validators are not documented as thread-safe, and the sandbox
# validates in its server thread while a unit test may validate in the main one.
_lock = threading.RLock()


# -- loaders (each parses its 100 KB - 1 MB document once per process) -----------------------


def _read(path: Path) -> str:
    """A document's text. Without it nothing could be validated, so its absence is an error
    (the tests that need it fail), never a reason to skip."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the provider spec {path} is missing; specs/README.md lists the files"
        ) from None


@cache
def calcom_document() -> dict[str, Any]:
    """The published document, patched for the defects openapi-core trips over (see below)."""
    spec: dict[str, Any] = _one_of_as_any_of(json.loads(_read(CALCOM_SPEC)))
    spec["servers"] = [{"url": CALCOM_HOST}]
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                _patch_calcom_parameter(param)
    _nullable_without_type(spec)
    return spec


def _one_of_as_any_of(node: Any) -> Any:
    """Every `oneOf` as `anyOf`: Cal.com's alternatives overlap (no discriminator, `type`
    given only as an example, extra properties allowed), so a valid booking body, and every
    `location` in it, matches several branches and fails `oneOf` (Cal.com problem 1)."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _one_of_as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_of_as_any_of(v) for v in node]
    return node


def _patch_calcom_parameter(param: dict[str, Any]) -> None:
    schema = param.get("schema", {})
    if "default" not in schema or not param.get("required"):
        return
    if param.get("name") == "cal-api-version":
        # `{"required": true, "schema": {"type": "string", "default": "2024-06-14"}}` with the
        # description "Must be set to 2024-06-14": openapi-core fills in the default, so a
        # missing header would pass, and no enum refuses a wrong version. Make it an enum.
        schema["enum"] = [schema.pop("default")]
    else:
        # A default on a required parameter is meaningless and hides its absence the same way.
        schema.pop("default")


def _nullable_without_type(node: Any) -> None:
    """`{"nullable": true, "allOf": [{"$ref": ...}]}` -> `anyOf[<ref>, null]`.

    NestJS's swagger writes nullable object properties this way (e.g. EventTypeOutput's
    `recurrence`). In OpenAPI 3.0 `nullable` only acts beside a `type`, so a strict validator
    refuses the `null` that Cal.com really sends for a non-recurring event type.
    """
    if isinstance(node, dict):
        for value in node.values():
            _nullable_without_type(value)
        if node.get("nullable") is True and "type" not in node:
            inner = {k: v for k, v in node.items() if k != "nullable"}
            node.clear()
            node["anyOf"] = [inner, {"nullable": True, "enum": [None]}]
    elif isinstance(node, list):
        for value in node:
            _nullable_without_type(value)


@cache
def google_document() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: dict[str, Any] = yaml.load(_read(GOOGLE_SPEC), Loader=loader)
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                # openapi-core cannot check OAuth2 schemes (it warns "Unsupported scheme type"
                # on every request): the bearer token is checked by hand in `_google_auth`.
                operation.pop("security", None)
    spec.pop("security", None)
    # EventDateTime.dateTime is `format: date-time`, i.e. RFC 3339 with an offset, but its
    # description (and the real API) accept a local time "if a time zone is explicitly
    # specified in timeZone". The discovery checks apply that rule; drop the format here.
    spec["components"]["schemas"]["EventDateTime"]["properties"]["dateTime"].pop("format", None)
    for schema in spec["components"]["schemas"].values():
        _null_clears(schema)
    return spec


def _null_clears(schema: dict[str, Any]) -> None:
    """Let every field of a Google body be null: in a patch, null is how a field is cleared.

    The conversion marks nothing nullable, yet Google's own answer for moving an all-day event
    to a time is to PATCH `"start": {"dateTime": ..., "date": null}`. (Null in a *response*
    is still refused, by the discovery checks: Google leaves absent fields out.)
    """
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop:
            # OpenAPI 3.0 ignores a `nullable` beside `$ref`; spell it as a union.
            schema["properties"][name] = {"anyOf": [prop, {"nullable": True, "enum": [None]}]}
        else:
            prop["nullable"] = True
            _null_clears(prop)
            if isinstance(prop.get("items"), dict):
                _null_clears(prop["items"])


@cache
def google_discovery() -> discovery.Discovery:
    return discovery.Discovery(json.loads(_read(GOOGLE_DISCOVERY)))


@cache
def calcom_openapi() -> OpenAPI:
    # The spec validator would take seconds on 1 MB and these are vendor documents, not ours.
    return OpenAPI.from_dict(calcom_document(), config=Config(spec_validator_cls=None))


@cache
def google_openapi() -> OpenAPI:
    return OpenAPI.from_dict(google_document(), config=Config(spec_validator_cls=None))


# -- request / response objects for openapi-core ---------------------------------------------


@dataclass
class _Request:
    """openapi-core's `Request` protocol."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str


@dataclass
class _Response:
    """openapi-core's `Response` protocol."""

    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers = field(default_factory=Headers)


@dataclass(frozen=True)
class Check:
    """The outcome for one request or response: which operation, and what is wrong with it."""

    operation: str
    violations: tuple[str, ...] = ()
    # False when no schema applies (a 5xx, a response to an unknown path): nothing was checked.
    validated: bool = True


def _pairs(values: QueryLike | HeadersLike | None) -> list[tuple[str, str]]:
    if values is None:
        return []
    if isinstance(values, Mapping):
        return [(str(k), str(v)) for k, v in values.items()]
    return [(str(k), str(v)) for k, v in values]


def _lower_headers(headers: HeadersLike | None) -> dict[str, str]:
    return {k.lower(): v for k, v in _pairs(headers)}


def _body_bytes(body: BodyLike, headers: dict[str, str]) -> bytes | None:
    """Raw bytes as sent; a dict or list is sent as JSON (handy in unit tests)."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body or None
    if isinstance(body, str):
        return body.encode() or None
    headers.setdefault("content-type", "application/json")
    return json.dumps(body).encode()


def _json(raw: bytes | None) -> tuple[Any, bool]:
    """(parsed body, whether there was one); unparseable JSON comes back as the raw bytes."""
    if raw is None:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return raw, True


# -- routing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    operation_id: str
    template: str
    method: str
    spec: dict[str, Any]
    path_item: dict[str, Any]


@cache
def _calcom_routes() -> list[tuple[re.Pattern[str], _Route]]:
    routes = []
    for template, path_item in calcom_document()["paths"].items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        for method, operation in path_item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                route = _Route(operation["operationId"], template, method, operation, path_item)
                routes.append((re.compile(f"^{regex}$"), route))
    # A literal segment beats a parameter: /v2/bookings/by-seat/... before /{bookingUid}/...
    routes.sort(key=lambda r: (r[1].template.count("{"), -len(r[1].template)))
    return routes


def _calcom_route(method: str, path: str) -> _Route | None:
    for pattern, route in _calcom_routes():
        if route.method == method.lower() and pattern.match(path):
            return route
    return None


def _google_relative(url_path: str) -> str:
    """`/calendar/v3/freeBusy` or `/freeBusy` -> `freeBusy` (discovery paths are relative)."""
    if url_path.startswith(GOOGLE_PREFIX + "/"):
        url_path = url_path[len(GOOGLE_PREFIX) :]
    return url_path.lstrip("/")


def operation_for(provider: Provider, method: str, url_path: str, body: BodyLike = None) -> str:
    if provider == "calcom":
        route = _calcom_route(method, url_path)
        return route.operation_id if route else UNKNOWN
    if provider == "google":
        found = google_discovery().find(method, _google_relative(url_path))
        return found.id if found else UNKNOWN
    return oauth.operation_for(_body_bytes(body, {}))


# -- requests ----------------------------------------------------------------------------------


def validate_request(
    provider: Provider,
    method: str,
    url_path: str,
    query: QueryLike | None = None,
    headers: HeadersLike | None = None,
    body: BodyLike = None,
) -> list[str]:
    """What is wrong with this request according to the provider's official documents.

    `url_path` is the path the real provider would see: `/v2/...` for Cal.com,
    `/calendar/v3/...` (or just `/freeBusy`) for Google, `/token` for the OAuth endpoint.
    """
    return list(check_request(provider, method, url_path, query, headers, body).violations)


def check_request(
    provider: Provider,
    method: str,
    url_path: str,
    query: QueryLike | None = None,
    headers: HeadersLike | None = None,
    body: BodyLike = None,
) -> Check:
    query_pairs = _pairs(query)
    lowered = _lower_headers(headers)
    raw = _body_bytes(body, lowered)
    with _lock:
        if provider == "google_oauth":
            operation = oauth.operation_for(raw)
            return Check(operation, tuple(oauth.check_request(method, query_pairs, lowered, raw)))
        if provider == "calcom":
            return _check_calcom_request(method, url_path, query_pairs, lowered, raw)
        return _check_google_request(method, url_path, query_pairs, lowered, raw)


def _openapi_request(
    host: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    raw: bytes | None,
) -> _Request:
    parameters = RequestParameters(
        query=ImmutableMultiDict(query), header=Headers(list(headers.items()))
    )
    content_type = headers.get("content-type", "").lower() if raw is not None else ""
    return _Request(host, path, method.lower(), parameters, raw, content_type)


def _openapi_errors(openapi: OpenAPI, request: _Request) -> list[str]:
    messages: list[str] = []
    for error in openapi.request_validator.iter_errors(request):
        messages.extend(_describe(error))
    return messages


def _check_calcom_request(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    raw: bytes | None,
) -> Check:
    route = _calcom_route(method, path)
    if route is None:
        return Check(UNKNOWN, (f"{method.upper()} {path} is not an operation of Cal.com API v2",))
    request = _openapi_request(CALCOM_HOST, method, path, query, headers, raw)
    errors = _openapi_errors(calcom_openapi(), request)
    errors.extend(_undocumented_query(route, query))
    if raw is not None and "requestBody" not in route.spec:
        errors.append(f"{route.operation_id} takes no request body, but one was sent")
    body, _ = _json(raw)
    errors.extend(_calcom_rules(route.operation_id, dict(query), headers, body))
    return Check(route.operation_id, tuple(errors))


def _undocumented_query(route: _Route, query: list[tuple[str, str]]) -> list[str]:
    """A name the spec does not list is at best ignored, at worst a typo that changes nothing."""
    documented = {
        p.get("name")
        for p in [*route.spec.get("parameters", []), *route.path_item.get("parameters", [])]
        if p.get("in") == "query"
    }
    return [
        f"query parameter {name!r} is not a parameter of {route.operation_id}"
        for name in dict(query)
        if name not in documented
    ]


def _is_utc_iso(value: Any, *, date_allowed: bool) -> bool:
    """ "ISO 8601 ... in UTC timezone": `2050-09-05T13:00:00Z` / `+00:00`, or a bare date."""
    if not isinstance(value, str):
        return False
    if date_allowed and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return True
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    offset = moment.utcoffset()
    return "T" in value and offset is not None and offset.total_seconds() == 0


def _calcom_rules(
    operation: str, query: dict[str, str], headers: dict[str, str], body: Any
) -> list[str]:
    """What Cal.com's spec says only in descriptions (README, Cal.com problem 4 and others)."""
    errors: list[str] = []
    authorization = headers.get("authorization")
    if authorization is not None and not re.fullmatch(r"Bearer \S+", authorization):
        # The Authorization parameter's description: "value must be `Bearer <token>`".
        errors.append("header Authorization: not `Bearer <token>`")
    if operation == SLOTS_OPERATION:
        # start/end: "Must be in UTC timezone as ISO 8601 datestring" (a date is allowed).
        for name in ("start", "end"):
            if name in query and not _is_utc_iso(query[name], date_allowed=True):
                errors.append(f"query parameter {name!r}: {query[name]!r} is not ISO 8601 UTC")
        # One of eventTypeId, eventTypeSlug + username|teamSlug, or usernames (the parameters'
        # descriptions); the schema cannot say "one of these groups".
        if not (
            "eventTypeId" in query
            or ("eventTypeSlug" in query and ("username" in query or "teamSlug" in query))
            or "usernames" in query
        ):
            errors.append("slots need eventTypeId, eventTypeSlug + username|teamSlug, or usernames")
        if query.get("format", "time") not in ("time", "range"):
            # format: "Use 'range' to get start and end times. Use 'time' or omit ...".
            errors.append(f"query parameter 'format': {query['format']!r} is not time|range")
    if operation == _BOOKING_CREATE and isinstance(body, dict):
        # eventTypeId: "Required unless eventTypeSlug and username are provided".
        if "eventTypeId" not in body and not (
            "eventTypeSlug" in body and ("username" in body or "teamSlug" in body)
        ):
            errors.append("body: needs eventTypeId, or eventTypeSlug with username or teamSlug")
        if "start" in body and not _is_utc_iso(body["start"], date_allowed=False):
            # start: "The start time of the booking in ISO 8601 format in UTC timezone."
            errors.append(f"body.start: {body['start']!r} is not ISO 8601 in UTC")
    if operation == _RESERVE_SLOT and isinstance(body, dict) and "slotStart" in body:
        # slotStart: "ISO 8601 datestring in UTC timezone representing available slot."
        if not _is_utc_iso(body["slotStart"], date_allowed=False):
            errors.append(f"body.slotStart: {body['slotStart']!r} is not ISO 8601 in UTC")
    return errors


def _check_google_request(
    method: str,
    url_path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    raw: bytes | None,
) -> Check:
    relative = _google_relative(url_path)
    found = google_discovery().find(method, relative)
    if found is None:
        return Check(UNKNOWN, (f"{method.upper()} /{relative} is not a Google Calendar method",))
    path = f"{GOOGLE_PREFIX}/{relative}"
    request = _openapi_request(GOOGLE_HOST, method, path, query, headers, raw)
    errors = [f"openapi: {m}" for m in _openapi_errors(google_openapi(), request)]
    errors.extend(_google_auth(headers))
    body, has_body = _json(raw)
    errors.extend(
        f"discovery: {m}" for m in google_discovery().check_request(found, query, body, has_body)
    )
    return Check(found.id, tuple(errors))


def _google_auth(headers: dict[str, str]) -> list[str]:
    # Every method's `security` is OAuth2; the README: "Auth is Authorization: Bearer <token>".
    if not re.fullmatch(r"Bearer \S+", headers.get("authorization", "")):
        return ["header Authorization: missing or not `Bearer <access token>`"]
    return []


# -- responses ---------------------------------------------------------------------------------


def validate_response(
    provider: Provider,
    method: str,
    url_path: str,
    status: int,
    headers: HeadersLike | None = None,
    body: BodyLike = None,
    query: QueryLike | None = None,
) -> list[str]:
    """What is wrong with a (sandbox's) answer, where the README says the spec is right."""
    return list(check_response(provider, method, url_path, status, headers, body, query).violations)


def check_response(
    provider: Provider,
    method: str,
    url_path: str,
    status: int,
    headers: HeadersLike | None = None,
    body: BodyLike = None,
    query: QueryLike | None = None,
    request_body: BodyLike = None,
) -> Check:
    lowered = _lower_headers(headers)
    raw = _body_bytes(body, lowered)
    with _lock:
        operation = operation_for(provider, method, url_path, request_body)
        if status >= 500:
            # 5xx come from front ends and injected faults; no document describes their bodies.
            return Check(operation, (), validated=False)
        if provider == "google_oauth":
            return Check(operation, tuple(oauth.check_response(status, lowered, raw)))
        if operation == UNKNOWN:
            return Check(operation, (), validated=False)
        if provider == "calcom":
            errors = _check_calcom_response(method, url_path, status, lowered, raw, query)
        else:
            errors = _check_google_response(method, url_path, status, lowered, raw)
        return Check(operation, tuple(errors))


def _check_calcom_response(
    method: str,
    path: str,
    status: int,
    headers: dict[str, str],
    raw: bytes | None,
    query: QueryLike | None,
) -> list[str]:
    body, _ = _json(raw)
    if status >= 400:
        return _calcom_error_envelope(status, body)
    route = _calcom_route(method, path)
    assert route is not None  # operation_for found it
    if route.operation_id == SLOTS_OPERATION:
        return _slots_envelope(body, dict(_pairs(query)))
    request = _openapi_request(CALCOM_HOST, method, path, _pairs(query), {}, None)
    response = _Response(status, raw, headers.get("content-type", "").lower())
    return [
        m
        for error in calcom_openapi().response_validator.iter_errors(request, response)
        for m in _describe(error)
    ]


def _calcom_error_envelope(status: int, body: Any) -> list[str]:
    """Cal.com's NestJS error filter (README, "Error shapes"); the spec documents no 4xx."""
    if not isinstance(body, dict):
        return [f"a Cal.com {status} answer is not a JSON object"]
    errors = []
    if body.get("status") != "error":
        errors.append(f"body.status: {body.get('status')!r}, not 'error'")
    for name in ("timestamp", "path"):
        if not isinstance(body.get(name), str):
            errors.append(f"body.{name}: missing")
    error = body.get("error")
    if not isinstance(error, dict):
        errors.append("body.error: missing")
    else:
        for name in ("code", "message"):
            if not isinstance(error.get(name), str):
                errors.append(f"body.error.{name}: missing or not a string")
    return errors


def _slots_envelope(body: Any, query: dict[str, str]) -> list[str]:
    """/v2/slots 200 as the spec's examples show it (README: the 200 schema is wrong)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        return ['body: not {"status": "success", "data": ...}']
    data = body.get("data")
    if not isinstance(data, dict):
        return ["body.data: not an object of date -> slots"]
    errors = []
    needed = ("start", "end") if query.get("format") == "range" else ("start",)
    for day, slots in data.items():
        if not discovery._is_date(day):
            errors.append(f"body.data: key {day!r} is not a yyyy-mm-dd date")
        if not isinstance(slots, list):
            errors.append(f"body.data[{day!r}]: not a list")
            continue
        for i, slot in enumerate(slots):
            for name in needed:
                value = slot.get(name) if isinstance(slot, dict) else None
                if not isinstance(value, str) or not discovery.is_rfc3339(value):
                    errors.append(f"body.data[{day!r}][{i}].{name}: not an ISO 8601 date-time")
    return errors


def _check_google_response(
    method: str, url_path: str, status: int, headers: dict[str, str], raw: bytes | None
) -> list[str]:
    body, has_body = _json(raw)
    if status >= 400:
        return _google_error_envelope(status, body)
    relative = _google_relative(url_path)
    found = google_discovery().find(method, relative)
    assert found is not None  # operation_for found it
    errors = [
        f"discovery: {m}" for m in google_discovery().check_response(found, status, body, has_body)
    ]
    if status == 204 or not has_body:
        return errors  # delete's 204 (the README's truth) is not in the OpenAPI file at all
    request = _openapi_request(GOOGLE_HOST, method, f"{GOOGLE_PREFIX}/{relative}", [], {}, None)
    response = _Response(status, raw, headers.get("content-type", "").lower())
    errors.extend(
        f"openapi: {m}"
        for error in google_openapi().response_validator.iter_errors(request, response)
        for m in _describe(error)
    )
    return errors


def _google_error_envelope(status: int, body: Any) -> list[str]:
    """{"error": {"errors": [{domain, reason, message}], "code": <status>, "message"}}."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [f"a Google {status} answer lacks the `error` object"]
    errors = []
    if error.get("code") != status:
        errors.append(f"body.error.code: {error.get('code')!r}, not {status}")
    if not isinstance(error.get("message"), str):
        errors.append("body.error.message: missing")
    items = error.get("errors")
    if not isinstance(items, list) or not items:
        errors.append("body.error.errors: missing or empty")
    else:
        for i, item in enumerate(items):
            for name in ("domain", "reason", "message"):
                if not isinstance(item, dict) or not isinstance(item.get(name), str):
                    errors.append(f"body.error.errors[{i}].{name}: missing")
    return errors


# -- openapi-core's exceptions as readable lines ---------------------------------------------


def _describe(error: BaseException) -> list[str]:
    """One line per leaf problem, e.g. `body.attendee: 'attendee' is a required property`."""
    where = _where(error)
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        lines = [line for sub in schema_errors for line in _leaves(where, sub)]
        return list(dict.fromkeys(lines))
    if isinstance(cause, CastError):
        return [f"{where}: {cause.value!r} is not a {cause.type}"]
    detail = f" ({cause})" if cause is not None and str(cause) not in str(error) else ""
    return [f"{error}{detail}"]


def _where(error: BaseException) -> str:
    name, location = getattr(error, "name", None), getattr(error, "location", None)
    if name and location:
        return f"{location} parameter {name!r}"
    return "body"


def _leaves(where: str, error: SchemaError) -> list[str]:
    if error.context:
        # anyOf / oneOf: report the branch that came closest (fewest problems), instead of
        # "... is not valid under any of the given schemas" with the whole body pasted in.
        branches: dict[Any, list[SchemaError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        closest = min(branches.values(), key=len)
        return [line for sub in closest for line in _leaves(where, sub)]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return [f"{where}{path}: {message}"]
