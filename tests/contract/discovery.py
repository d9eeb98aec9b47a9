"""Checks taken from Google's discovery document, which the OpenAPI conversion lost.

The APIs-guru OpenAPI file has no `required` lists at all, and it is older than the discovery
document (see specs/README.md, "Spec problems found"). So for Google this module is
the authority on: which method a request is, its query parameters (known names, types, enums,
ranges, repetition, `required`), the request body's `annotations.required` fields for that
method, and the type of every body field, nested. A few rules that Google states only in prose
(descriptions, the README's endpoint summary) are added by hand in `_request_rules` and
`_response_rules`, each with the sentence it comes from.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# EventDateTime.dateTime may omit the offset "if a time zone is explicitly specified in timeZone".
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^-?\d+$")
# Event.id: "characters allowed in the ID are those used in base32hex encoding, i.e. lowercase
# letters a-v and digits 0-9 [...] the length of the ID must be between 5 and 1024 characters".
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_INT32 = (-(2**31), 2**31 - 1)

# From ConferenceSolutionKey.type's description ("The possible values are: ...").
_CONFERENCE_TYPES = ("eventHangout", "eventNamedHangout", "hangoutsMeet", "addOn")
# From CalendarListEntry.accessRole's description.
_ACCESS_ROLES = ("freeBusyReader", "reader", "writer", "owner")
_EVENT_WRITES = frozenset(
    {
        "calendar.events.insert",
        "calendar.events.update",
        "calendar.events.patch",
        "calendar.events.import",
    }
)
_EVENT_READS = frozenset(
    {
        "calendar.events.insert",
        "calendar.events.update",
        "calendar.events.patch",
        "calendar.events.get",
        "calendar.events.import",
    }
)


def is_rfc3339(value: str) -> bool:
    """A full RFC 3339 date-time, offset included, that is also a real instant."""
    return bool(_RFC3339.match(value)) and _parses(value)


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str) and is_rfc3339(value):
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return None


@dataclass(frozen=True)
class Method:
    """One discovery-document method, e.g. `calendar.events.insert`."""

    id: str
    http_method: str
    path: str
    spec: dict[str, Any]
    pattern: re.Pattern[str]

    @property
    def specificity(self) -> tuple[int, int]:
        # A literal segment beats a parameter: `events/import` before `events/{eventId}`.
        return (self.path.count("{"), -len(self.path))


class Discovery:
    """The discovery document, indexed once (it is parsed once per test session)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, Any] = doc["schemas"]
        self.global_parameters: dict[str, Any] = doc.get("parameters", {})
        methods: list[Method] = []
        self._collect(doc.get("resources", {}), methods)
        self.methods = sorted(methods, key=lambda m: m.specificity)
        self.by_id = {m.id: m for m in methods}

    def _collect(self, resources: dict[str, Any], into: list[Method]) -> None:
        for resource in resources.values():
            for spec in resource.get("methods", {}).values():
                path = spec["path"]
                regex = re.sub(r"\\\{\+?(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
                into.append(
                    Method(spec["id"], spec["httpMethod"], path, spec, re.compile(f"^{regex}$"))
                )
            self._collect(resource.get("resources", {}), into)

    def find(self, http_method: str, relative_path: str) -> Method | None:
        """The method for `POST calendars/primary/events` (a path under `servicePath`)."""
        path = relative_path.lstrip("/")
        for method in self.methods:
            if method.http_method == http_method.upper() and method.pattern.match(path):
                return method
        return None

    # -- requests -----------------------------------------------------------------------------

    def check_request(
        self, method: Method, query: Sequence[tuple[str, str]], body: Any, has_body: bool
    ) -> list[str]:
        errors: list[str] = []
        self._check_query(method, query, errors)
        request = method.spec.get("request")
        if request is None:
            if has_body:
                errors.append(f"{method.id} takes no request body, but one was sent")
            return errors
        if not has_body:
            # Treated as `{}`: an insert without a body still lacks its required fields.
            body = {}
        self._check_value(body, {"$ref": request["$ref"]}, "body", method.id, "request", errors)
        if isinstance(body, dict):
            self._request_rules(method.id, dict(query), body, errors)
        return errors

    def _check_query(
        self, method: Method, query: Sequence[tuple[str, str]], errors: list[str]
    ) -> None:
        parameters = {**self.global_parameters, **method.spec.get("parameters", {})}
        given: dict[str, list[str]] = defaultdict(list)
        for name, value in query:
            given[name].append(value)
        for name, values in given.items():
            param = parameters.get(name)
            if param is None or param.get("location") != "query":
                # Google may well ignore an unknown name, but then a typo such as
                # `sendupdates=none` silently notifies every attendee: only documented names.
                errors.append(f"query parameter {name!r} is not a parameter of {method.id}")
                continue
            if len(values) > 1 and not param.get("repeated"):
                errors.append(f"query parameter {name!r} is not repeatable but was sent twice")
            for value in values:
                errors.extend(_check_parameter(name, value, param))
        for name, param in parameters.items():
            if param.get("required") and param.get("location") == "query" and name not in given:
                errors.append(f"missing required query parameter {name!r} of {method.id}")

    def _request_rules(
        self, method_id: str, query: dict[str, str], body: dict[str, Any], errors: list[str]
    ) -> None:
        if method_id == "calendar.freebusy.query":
            # The README's endpoint summary gives the body as {timeMin, timeMax, items:[{id}]}
            # and lists "`{}` for freeBusy [is] accepted" among the conversion's defects: the
            # real API answers 400 without them.
            for name in ("timeMin", "timeMax", "items"):
                if name not in body:
                    errors.append(f"body.{name}: required by freebusy.query")
            for i, item in enumerate(body.get("items") or []):
                if isinstance(item, dict) and "id" not in item:
                    errors.append(f"body.items[{i}].id: required (the calendar to query)")
            # "Maximum value is 50." / "Maximum value is 100." (FreeBusyRequest descriptions)
            for name, most in (("calendarExpansionMax", 50), ("groupExpansionMax", 100)):
                value = body.get(name)
                if isinstance(value, int) and value > most:
                    errors.append(f"body.{name}: {value} is above the documented maximum {most}")
            start, end = _instant(body.get("timeMin")), _instant(body.get("timeMax"))
            if start and end and end <= start:
                errors.append("body.timeMax: not after timeMin (Google answers timeRangeEmpty)")
        if method_id in _EVENT_WRITES:
            self._event_rules(method_id, query, body, errors)

    def _event_rules(
        self, method_id: str, query: dict[str, str], body: dict[str, Any], errors: list[str]
    ) -> None:
        kinds = {}
        for key in ("start", "end", "originalStartTime"):
            value = body.get(key)
            if not isinstance(value, dict):
                continue
            # A null clears the field in a patch (e.g. `"date": null` when moving to a time).
            has_date = value.get("date") is not None
            has_datetime = value.get("dateTime") is not None
            if has_date == has_datetime:
                errors.append(f"body.{key}: needs exactly one of `date` and `dateTime`")
            kinds[key] = "date" if has_date else "dateTime"
            moment = value.get("dateTime")
            if isinstance(moment, str) and not is_rfc3339(moment):
                # "A time zone offset is required unless a time zone is explicitly specified
                # in timeZone." (EventDateTime.dateTime)
                if not (_LOCAL_DATETIME.match(moment) and _parses(moment)):
                    errors.append(f"body.{key}.dateTime: {moment!r} is not an RFC 3339 date-time")
                elif not value.get("timeZone"):
                    errors.append(f"body.{key}.dateTime: no offset and no timeZone")
        if kinds.get("start") and kinds.get("end") and kinds["start"] != kinds["end"]:
            errors.append("body.start/end: both must be `date` or both `dateTime`")
        for i, attendee in enumerate(body.get("attendees") or []):
            # EventAttendee.email: "Required when adding an attendee."
            if isinstance(attendee, dict) and not attendee.get("email"):
                errors.append(f"body.attendees[{i}].email: required when adding an attendee")
        conference = body.get("conferenceData")
        create = conference.get("createRequest") if isinstance(conference, dict) else None
        if isinstance(create, dict):
            if not create.get("requestId"):
                errors.append("body.conferenceData.createRequest.requestId: required")
            solution = create.get("conferenceSolutionKey")
            kind = solution.get("type") if isinstance(solution, dict) else None
            if kind not in _CONFERENCE_TYPES:
                errors.append(
                    "body.conferenceData.createRequest.conferenceSolutionKey.type: "
                    f"{kind!r} is not one of {list(_CONFERENCE_TYPES)}"
                )
        if conference is not None and query.get("conferenceDataVersion") != "1":
            # "Version 0 assumes no conference data support and ignores conference data in the
            # event's body." No Meet link would be created, silently.
            errors.append("conferenceData is sent but conferenceDataVersion is not 1 (ignored)")
        event_id = body.get("id")
        if method_id in ("calendar.events.insert", "calendar.events.import") and (
            isinstance(event_id, str) and not _EVENT_ID.match(event_id)
        ):
            errors.append(f"body.id: {event_id!r} is not base32hex (a-v, 0-9), 5-1024 long")

    # -- responses ----------------------------------------------------------------------------

    def check_response(self, method: Method, status: int, body: Any, has_body: bool) -> list[str]:
        errors: list[str] = []
        if method.id in ("calendar.events.delete", "calendar.calendarList.delete"):
            # The README: "events.delete is documented as 200 with no body, but the real API
            # answers 204 No Content."
            if status != 204 or has_body:
                errors.append(f"{method.id} answers 204 with no body, not {status}")
            return errors
        response = method.spec.get("response")
        if response is None:
            return errors
        if not has_body:
            return [f"{method.id} answered {status} with no body"]
        schema = self.schemas[response["$ref"]]
        self._check_value(body, schema, "body", method.id, "response", errors)
        if isinstance(body, dict):
            kind = schema.get("properties", {}).get("kind", {}).get("default")
            if kind and "kind" not in body:
                errors.append(f"body.kind: missing (always {kind!r})")
            self._response_rules(method.id, body, errors)
        return errors

    def _response_rules(self, method_id: str, body: dict[str, Any], errors: list[str]) -> None:
        if method_id == "calendar.freebusy.query":
            # README: {kind, timeMin, timeMax, calendars:{<id>:{busy:[{start,end}], errors?}}}
            for name in ("timeMin", "timeMax", "calendars"):
                if name not in body:
                    errors.append(f"body.{name}: missing")
            calendars = body.get("calendars")
            for cal_id, cal in calendars.items() if isinstance(calendars, dict) else ():
                if not isinstance(cal, dict):
                    continue
                if "busy" not in cal:
                    errors.append(f"body.calendars[{cal_id!r}].busy: missing")
                for i, period in enumerate(cal.get("busy") or []):
                    for end in ("start", "end"):
                        if isinstance(period, dict) and end not in period:
                            errors.append(f"body.calendars[{cal_id!r}].busy[{i}].{end}: missing")
        if method_id in _EVENT_READS and "id" not in body:
            errors.append("body.id: missing")
        entries: list[Any] = []
        if method_id in ("calendar.calendarList.get", "calendar.calendarList.insert"):
            entries = [body]
        elif method_id == "calendar.calendarList.list":
            entries = list(body.get("items") or [])
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            where = "body" if entry is body else f"body.items[{i}]"
            # README: items:[{id, summary, primary?, accessRole, timeZone, ...}]
            for name in ("id", "summary", "accessRole", "timeZone"):
                if name not in entry:
                    errors.append(f"{where}.{name}: missing")
            role = entry.get("accessRole")
            if role is not None and role not in _ACCESS_ROLES:
                errors.append(f"{where}.accessRole: {role!r} is not one of {list(_ACCESS_ROLES)}")

    # -- schema walk --------------------------------------------------------------------------

    def _check_value(
        self,
        value: Any,
        schema: dict[str, Any],
        where: str,
        method_id: str,
        direction: str,
        errors: list[str],
    ) -> None:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        if value is None:
            # In a request, null clears a field (patch semantics); Google's own answers leave
            # absent fields out instead of sending null, so a null there is a sandbox invention.
            if direction == "response":
                errors.append(f"{where}: null (Google leaves absent fields out)")
            return
        kind = schema.get("type")
        if kind == "object":
            self._check_object(value, schema, where, method_id, direction, errors)
        elif kind == "array":
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array, got {_type_name(value)}")
                return
            for i, item in enumerate(value):
                self._check_value(
                    item, schema.get("items", {}), f"{where}[{i}]", method_id, direction, errors
                )
        elif kind == "string":
            errors.extend(_check_string(value, schema, where))
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(f"{where}: expected an integer, got {_type_name(value)}")
            elif schema.get("format") == "int32" and not _INT32[0] <= value <= _INT32[1]:
                errors.append(f"{where}: {value} is out of int32 range")
        elif kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                errors.append(f"{where}: expected a number, got {_type_name(value)}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                errors.append(f"{where}: expected a boolean, got {_type_name(value)}")
        # type "any" (or none): anything goes.

    def _check_object(
        self,
        value: Any,
        schema: dict[str, Any],
        where: str,
        method_id: str,
        direction: str,
        errors: list[str],
    ) -> None:
        if not isinstance(value, dict):
            errors.append(f"{where}: expected an object, got {_type_name(value)}")
            return
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            field = f"{where}.{name}" if extra is None else f"{where}[{name!r}]"
            if name in properties:
                sub = properties[name]
                if schema.get("id") == "EventDateTime" and name == "dateTime":
                    # Checked by `_event_rules`: it may lack an offset when timeZone is given.
                    if not isinstance(item, str):
                        errors.append(f"{field}: expected a string, got {_type_name(item)}")
                    continue
                self._check_value(item, sub, f"{where}.{name}", method_id, direction, errors)
            elif extra is not None:
                self._check_value(item, extra, field, method_id, direction, errors)
            else:
                errors.append(f"{where}.{name}: not a field of {schema.get('id', 'this object')}")
        if direction != "request":
            return
        for name, sub in properties.items():
            required_for = sub.get("annotations", {}).get("required", ())
            if method_id in required_for and value.get(name) is None:
                errors.append(f"{where}.{name}: required by {method_id}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_string(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: expected a string, got {_type_name(value)}"]
    fmt = schema.get("format")
    if fmt == "date-time" and not is_rfc3339(value):
        return [f"{where}: {value!r} is not an RFC 3339 date-time"]
    if fmt == "date" and not _is_date(value):
        return [f"{where}: {value!r} is not a yyyy-mm-dd date"]
    if fmt in ("int64", "uint64") and not _INT.match(value):
        return [f"{where}: {value!r} is not an {fmt} (sent as a string)"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    return []


def _check_parameter(name: str, value: str, param: dict[str, Any]) -> list[str]:
    where = f"query parameter {name!r}"
    kind = param.get("type")
    if kind == "integer":
        if not _INT.match(value):
            return [f"{where}: {value!r} is not an integer"]
        number = int(value)
        low = int(param.get("minimum", _INT32[0]))
        high = int(param.get("maximum", _INT32[1]))
        if not low <= number <= high:
            return [f"{where}: {number} is outside {low}..{high}"]
        return []
    if kind == "boolean":
        # Google parses only the JSON literals; "True" or "1" are refused.
        return [] if value in ("true", "false") else [f"{where}: {value!r} is not true/false"]
    return _check_string(value, param, where)
