"""The Google Calendar v3 sandbox, and Google's OAuth token endpoint.

Accounts own a primary calendar whose id is the account's e-mail, and may be given
secondary calendars (ids `…@group.calendar.google.com`, as Google names them). The Calendar
API (`/google/calendar/v3`) answers in Google's shapes: Event resources with the
fields Google sets itself (`htmlLink`, `iCalUID`, `etag`, `created`, `updated`,
`creator`, `organizer`, a Meet `conferenceData` when asked for one with
`conferenceDataVersion=1`), `freeBusy` computed from the stored events, and Google's
error envelope `{"error": {"errors": [{"domain", "reason", "message"}], "code",
"message"}}`. The token endpoint (`/google/token`) answers as OAuth 2.0 token endpoints and Google
do (`access_token`, `expires_in`; `{"error": …}` when refused), issuing access tokens that expire.

Where the real API is richer (recurring events, other people's calendars, ACLs,
sync tokens), the sandbox does the plain thing and says so in the docstring.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentcal.kit.validation import Email, Timezone

DEMO_EMAIL = "demo@example.com"
DEMO_GOOGLE_ID = "100000000000000000001"
DEMO_TIMEZONE = "America/Sao_Paulo"
DEMO_ACCESS_TOKEN = "ya29.sandbox-demo"
DEMO_REFRESH_TOKEN = "1//sandbox-demo"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
DEFAULT_EXPIRES_IN = 3600
SCOPE = "https://www.googleapis.com/auth/calendar"

_EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)?"
)  # offset optional here: an event's `dateTime` may lean on its `timeZone`
_MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)
_SEND_UPDATES = frozenset({"all", "externalOnly", "none"})
# Set by Google, never taken from a request body.
_READ_ONLY = frozenset(
    {
        "kind",
        "etag",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "organizer",
        "iCalUID",
        "hangoutLink",
        "sequence",
        "recurringEventId",
        "originalStartTime",
        "privateCopy",
        "locked",
    }
)


@dataclass
class SandboxCalendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class GoogleAccount:
    google_id: str
    email: str
    time_zone: str
    expires_in: int
    calendar: SandboxCalendar


@dataclass
class AccessGrant:
    email: str
    expires_at: float | None  # `GoogleState.clock` time; None = never (the demo token)
    refresh_token: str | None = None


@dataclass
class RefreshGrant:
    email: str
    revoked: bool = False


@dataclass
class UpdateSent:
    """A change Google would have e-mailed about (`sendUpdates`), kept for checking."""

    calendar_id: str
    event_id: str
    action: str
    send_updates: str


class GoogleState:
    """Everything the Google sandbox knows; starts with the demo account."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._ids = itertools.count(2)
        self.accounts: dict[str, GoogleAccount] = {}
        self.calendars: dict[str, SandboxCalendar] = {}
        self.access_tokens: dict[str, AccessGrant] = {}
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        # Requests that reached the token endpoint, by refresh token ("" when none).
        self.token_requests: Counter[str] = Counter()
        self.updates_sent: list[UpdateSent] = []
        self.add_account(
            DEMO_EMAIL,
            DEMO_TIMEZONE,
            google_id=DEMO_GOOGLE_ID,
            access_token=DEMO_ACCESS_TOKEN,
            refresh_token=DEMO_REFRESH_TOKEN,
            access_expires=False,  # so the README's curl examples keep working
        )

    def add_account(
        self,
        email: str,
        time_zone: str,
        *,
        expires_in: int = DEFAULT_EXPIRES_IN,
        google_id: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        access_expires: bool = True,
    ) -> tuple[GoogleAccount, str, str]:
        """A new account with its primary calendar, an access token and a refresh token."""
        calendar = SandboxCalendar(id=email, owner=email, summary=email, time_zone=time_zone)
        account = GoogleAccount(
            google_id=google_id or f"{100000000000000000000 + next(self._ids)}",
            email=email,
            time_zone=time_zone,
            expires_in=expires_in,
            calendar=calendar,
        )
        self.accounts[email] = account
        self.calendars[calendar.id] = calendar
        refresh_token = refresh_token or f"1//sandbox-{secrets.token_urlsafe(24)}"
        self.refresh_tokens[refresh_token] = RefreshGrant(email)
        access_token = access_token or self.issue_access_token(account, refresh_token)
        if access_token not in self.access_tokens:
            expires_at = self.clock() + expires_in if access_expires else None
            self.access_tokens[access_token] = AccessGrant(email, expires_at, refresh_token)
        return account, access_token, refresh_token

    def add_calendar(
        self, owner: str, summary: str, time_zone: str | None = None
    ) -> SandboxCalendar:
        """A secondary calendar of the account `owner`, named as Google names them."""
        account = self.accounts[owner]
        calendar_id = f"{secrets.token_hex(16)}@group.calendar.google.com"
        calendar = SandboxCalendar(
            id=calendar_id,
            owner=account.email,
            summary=summary,
            time_zone=time_zone or account.time_zone,
        )
        self.calendars[calendar_id] = calendar
        return calendar

    def issue_access_token(self, account: GoogleAccount, refresh_token: str) -> str:
        token = f"ya29.sandbox-{secrets.token_urlsafe(32)}"
        self.access_tokens[token] = AccessGrant(
            account.email, self.clock() + account.expires_in, refresh_token
        )
        return token

    def caller(self, access_token: str) -> GoogleAccount | None:
        """The account of a live access token."""
        grant = self.access_tokens.get(access_token)
        if grant is None or (grant.expires_at is not None and self.clock() >= grant.expires_at):
            return None
        return self.accounts.get(grant.email)

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token (and the access tokens issued from it) or an access token."""
        if token in self.access_tokens:
            del self.access_tokens[token]
            return True
        grant = self.refresh_tokens.get(token)
        if grant is None:
            return False
        grant.revoked = True
        for access, issued in list(self.access_tokens.items()):
            if issued.refresh_token == token:
                del self.access_tokens[access]
        return True

    def clear_events(self) -> None:
        for calendar in self.calendars.values():
            calendar.events.clear()
        self.updates_sent.clear()


# -- Google's shapes ------------------------------------------------------------------


def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    location: str | None = None,
    location_type: str | None = None,
) -> JSONResponse:
    """Google's error envelope (developers.google.com/workspace/calendar/api/guides/errors)."""
    item: dict[str, str] = {"domain": domain, "reason": reason, "message": message}
    if location is not None:
        item["locationType"] = location_type or "parameter"
        item["location"] = location
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    return JSONResponse(
        {"error": {"errors": [item], "code": status, "message": message}},
        status_code=status,
        headers=headers if status == 401 else None,
    )


def _invalid_credentials() -> JSONResponse:
    return google_error(
        401, "authError", "Invalid Credentials", location="Authorization", location_type="header"
    )


def _not_found() -> JSONResponse:
    return google_error(404, "notFound", "Not Found")


def _stamp(moment: datetime) -> str:
    """`2026-11-22T10:00:00.000Z`, as Google writes `created` and `updated`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# The `Authorization` header; module level so FastAPI can resolve the annotation.
Auth = Annotated[str | None, Header()]


class _BadRequest(Exception):
    def __init__(self, reason: str, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.location = location

    def response(self) -> JSONResponse:
        return google_error(400, self.reason, self.message, location=self.location)


def _rfc3339(value: object, name: str, *, need_offset: bool = True) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _BadRequest("invalid", f"Invalid value for: {name}", name)
    moment = datetime.fromisoformat(value.upper())
    if need_offset and moment.tzinfo is None:
        raise _BadRequest("invalid", f"Invalid value for: {name} (no timezone offset)", name)
    return moment


def _zone(name: object, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ValueError, KeyError, OSError):
        raise _BadRequest("timeZoneInvalid", f"Invalid time zone definition for {where}.") from None


def _instant(value: object, where: str, calendar_zone: str) -> datetime:
    """An EventDateTime as an aware datetime; an all-day `date` starts at local midnight."""
    if not isinstance(value, dict):
        raise _BadRequest("required", f"Missing {where} time.")
    zone_name = value.get("timeZone")
    if "dateTime" in value:
        moment = _rfc3339(value["dateTime"], f"{where}.dateTime", need_offset=False)
        if moment.tzinfo is None:
            if zone_name is None:
                raise _BadRequest("required", f"Missing time zone definition for {where} time.")
            moment = moment.replace(tzinfo=_zone(zone_name, f"{where} time"))
        elif zone_name is not None:
            _zone(zone_name, f"{where} time")
        return moment
    if "date" in value:
        try:
            day = date.fromisoformat(str(value["date"]))
        except ValueError:
            raise _BadRequest("invalid", f"Invalid value for: {where}.date") from None
        return datetime.combine(day, datetime.min.time(), _zone(calendar_zone, "the calendar"))
    raise _BadRequest("required", f"Missing {where} time.")


def _span(event: dict[str, Any], calendar_zone: str) -> tuple[datetime, datetime]:
    start = _instant(event.get("start"), "start", calendar_zone)
    end = _instant(event.get("end"), "end", calendar_zone)
    if end < start:
        raise _BadRequest("timeRangeEmpty", "The specified time range is empty.", "end")
    return start, end


def _meet(event_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """A Meet conference as Google attaches it once the create request succeeded."""
    letters = "".join(chr(97 + b % 26) for b in hashlib.sha256(event_id.encode()).digest()[:10])
    code = f"{letters[:3]}-{letters[3:7]}-{letters[7:10]}"
    return {
        "createRequest": {
            "requestId": request.get("requestId"),
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
            "status": {"statusCode": "success"},
        },
        "entryPoints": [
            {
                "entryPointType": "video",
                "uri": f"https://meet.google.com/{code}",
                "label": f"meet.google.com/{code}",
            }
        ],
        "conferenceSolution": {
            "key": {"type": "hangoutsMeet"},
            "name": "Google Meet",
            "iconUri": _MEET_ICON,
        },
        "conferenceId": code,
    }


def _conference(event: dict[str, Any], body: dict[str, Any], version: int) -> None:
    """Attach a Meet link for a `createRequest`, which Google reads only with version 1."""
    data = body.get("conferenceData")
    if version < 1 or not isinstance(data, dict):
        return
    request = data.get("createRequest")
    if not isinstance(request, dict):
        return
    key = request.get("conferenceSolutionKey")
    if not isinstance(key, dict) or key.get("type") != "hangoutsMeet":
        raise _BadRequest("invalid", "Invalid conference type value.")
    if not isinstance(request.get("requestId"), str) or not request["requestId"]:
        raise _BadRequest("required", "Missing conference request id.")
    conference = _meet(event["id"], request)
    event["conferenceData"] = conference
    event["hangoutLink"] = conference["entryPoints"][0]["uri"]


def _attendees(value: object, owner: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _BadRequest("invalid", "Invalid value for: attendees")
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            raise _BadRequest("required", "Missing attendee email.")
        attendee = {"responseStatus": "needsAction", **item}
        if attendee["email"].lower() == owner.lower():
            attendee.update(organizer=True, self=True)
        out.append(attendee)
    return out


def _html_link(event_id: str, calendar_id: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def _touch(event: dict[str, Any], now: datetime) -> None:
    event["updated"] = _stamp(now)
    event["etag"] = f'"{int(now.timestamp() * 1_000_000)}"'


def _query_int(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest("invalid", f"Invalid value for: {name}", name) from None
    if not low <= value <= high:
        raise _BadRequest("invalid", f"Invalid value for: {name}", name)
    return value


def _send_updates(raw: str | None) -> str:
    if raw is not None and raw not in _SEND_UPDATES:
        raise _BadRequest("invalid", f"Invalid value for: sendUpdates ({raw})", "sendUpdates")
    return raw or "none"


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _BadRequest("parseError", "Parse Error") from None
    if not isinstance(body, dict):
        raise _BadRequest("parseError", "Parse Error")
    return body


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Patch semantics: objects merge field by field, everything else (arrays too) replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _busy(
    calendar: SandboxCalendar, time_min: datetime, time_max: datetime
) -> list[dict[str, str]]:
    """Busy intervals in [time_min, time_max): opaque, not-cancelled events, clipped
    to the range and merged where they touch or overlap, as Google reports them."""
    spans: list[tuple[datetime, datetime]] = []
    for event in calendar.events.values():
        if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
            continue
        start, end = _span(event, calendar.time_zone)
        if start < time_max and end > time_min and end > start:
            spans.append((max(start, time_min), min(end, time_max)))
    spans.sort()
    merged: list[list[datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [{"start": _utc_z(s), "end": _utc_z(e)} for s, e in merged]


def _searched_text(event: dict[str, Any]) -> str:
    """What `events.list`'s `q` searches, as Google documents it: summary, description,
    location, the attendees' and the organizer's names and e-mails, and the labels of a
    working location."""
    people = [*(event.get("attendees") or []), event.get("organizer") or {}]
    texts = [event.get("summary"), event.get("description"), event.get("location")]
    for person in people:
        texts += [person.get("displayName"), person.get("email")]
    where = event.get("workingLocationProperties") or {}
    office = where.get("officeLocation") or {}
    texts += [office.get("buildingId"), office.get("deskId"), office.get("label")]
    texts.append((where.get("customLocation") or {}).get("label"))
    return "\n".join(t for t in texts if isinstance(t, str)).casefold()


def _matches(event: dict[str, Any], query: str) -> bool:
    """Every term of the free-text query appears in the searched fields (case aside)."""
    searched = _searched_text(event)
    return all(term in searched for term in query.casefold().split())


# -- the Calendar API -----------------------------------------------------------------


def create_google_api(state: GoogleState) -> FastAPI:
    """The Calendar v3 endpoints, to be mounted at `/google/calendar/v3`."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @api.exception_handler(_BadRequest)
    async def bad_request(_request: Request, exc: _BadRequest) -> JSONResponse:
        return exc.response()

    def caller(authorization: str | None) -> GoogleAccount | JSONResponse:
        if not authorization:
            return google_error(
                401,
                "required",
                "Login Required",
                location="Authorization",
                location_type="header",
            )
        scheme, _, token = authorization.partition(" ")
        account = state.caller(token.strip()) if scheme.lower() == "bearer" else None
        return account if account is not None else _invalid_credentials()

    def calendar_of(account: GoogleAccount, calendar_id: str) -> SandboxCalendar | None:
        """The caller's calendar; other people's calendars are invisible, as without ACLs."""
        if calendar_id == "primary":
            return account.calendar
        calendar = state.calendars.get(calendar_id)
        return calendar if calendar is not None and calendar.owner == account.email else None

    @api.post("/freeBusy")
    async def free_busy(request: Request, authorization: Auth = None) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        body = await _json_object(request)
        for name in ("timeMin", "timeMax"):
            if name not in body:
                raise _BadRequest("required", f"Missing {name}.", name)
        time_min = _rfc3339(body["timeMin"], "timeMin")
        time_max = _rfc3339(body["timeMax"], "timeMax")
        if time_max <= time_min:
            raise _BadRequest("timeRangeEmpty", "The specified time range is empty.", "timeMax")
        if "timeZone" in body:
            _zone(body["timeZone"], "timeZone")
        items = body.get("items", [])
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in items
        ):
            raise _BadRequest("invalid", "Invalid value for: items", "items")
        if len(items) > 50:
            raise _BadRequest("tooManyCalendarsRequested", "Too many calendars requested.")
        calendars: dict[str, Any] = {}
        for item in items:
            calendar = calendar_of(account, item["id"])
            if calendar is None:
                calendars[item["id"]] = {
                    "errors": [{"domain": "global", "reason": "notFound"}],
                    "busy": [],
                }
            else:
                calendars[item["id"]] = {"busy": _busy(calendar, time_min, time_max)}
        return JSONResponse(
            {
                "kind": "calendar#freeBusy",
                "timeMin": _stamp(time_min),
                "timeMax": _stamp(time_max),
                "calendars": calendars,
            }
        )

    @api.post("/calendars/{calendar_id}/events")
    async def insert_event(
        calendar_id: str,
        request: Request,
        authorization: Auth = None,
    ) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        if calendar is None:
            return _not_found()
        query = request.query_params
        updates = _send_updates(query.get("sendUpdates"))
        version = _query_int(query.get("conferenceDataVersion"), "conferenceDataVersion", 0, 1, 0)
        body = await _json_object(request)
        event_id = body.get("id")
        if event_id is None:
            event_id = secrets.token_hex(13)  # hex digits are base32hex digits
        elif not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise _BadRequest("invalid", "Invalid resource id value.")
        if event_id in calendar.events:
            return google_error(409, "duplicate", "The requested identifier already exists.")
        _span(body, calendar.time_zone)
        now = datetime.now(UTC)
        owner = {"email": account.email, "self": True}
        event: dict[str, Any] = {
            key: value
            for key, value in body.items()
            if key not in _READ_ONLY and key != "conferenceData"
        }
        event.update(
            kind="calendar#event",
            id=event_id,
            status=body.get("status") or "confirmed",
            htmlLink=_html_link(event_id, calendar.id),
            created=_stamp(now),
            creator=owner,
            organizer=owner,
            iCalUID=f"{event_id}@google.com",
            sequence=0,
            reminders=body.get("reminders") or {"useDefault": True},
            eventType=body.get("eventType") or "default",
        )
        if "attendees" in body:
            event["attendees"] = _attendees(body["attendees"], account.email)
        _conference(event, body, version)
        _touch(event, now)
        calendar.events[event_id] = event
        state.updates_sent.append(UpdateSent(calendar.id, event_id, "insert", updates))
        return JSONResponse(event)

    @api.get("/calendars/{calendar_id}/events")
    async def list_events(
        calendar_id: str, request: Request, authorization: Auth = None
    ) -> JSONResponse:
        """Events overlapping [timeMin, timeMax), those matching `q` if given. No
        recurrence: every event is single."""
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        if calendar is None:
            return _not_found()
        query = request.query_params
        time_min = _rfc3339(query["timeMin"], "timeMin") if "timeMin" in query else None
        time_max = _rfc3339(query["timeMax"], "timeMax") if "timeMax" in query else None
        if time_min and time_max and time_max <= time_min:
            raise _BadRequest("timeRangeEmpty", "The specified time range is empty.", "timeMax")
        single = query.get("singleEvents", "false").lower() == "true"
        order = query.get("orderBy")
        if order not in (None, "startTime", "updated"):
            raise _BadRequest("invalid", "Invalid value for: orderBy", "orderBy")
        if order == "startTime" and not single:
            raise _BadRequest(
                "badRequest", "The requested ordering is not available for the particular query."
            )
        show_deleted = query.get("showDeleted", "false").lower() == "true"
        limit = _query_int(query.get("maxResults"), "maxResults", 1, 2500, 250)
        offset = _query_int(query.get("pageToken"), "pageToken", 0, 10**9, 0)
        search = query.get("q")

        chosen: list[tuple[datetime, dict[str, Any]]] = []
        for event in calendar.events.values():
            if event.get("status") == "cancelled" and not show_deleted:
                continue
            start, end = _span(event, calendar.time_zone)
            if time_min is not None and end <= time_min:
                continue
            if time_max is not None and start >= time_max:
                continue
            if search and not _matches(event, search):
                continue
            chosen.append((start, event))
        if order == "startTime":
            chosen.sort(key=lambda pair: pair[0])
        elif order == "updated":
            chosen.sort(key=lambda pair: str(pair[1]["updated"]))
        page = [event for _, event in chosen[offset : offset + limit]]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{len(calendar.events)}"',
            "summary": calendar.summary,
            "updated": _stamp(datetime.now(UTC)),
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": page,
        }
        if offset + limit < len(chosen):
            body["nextPageToken"] = str(offset + limit)
        return JSONResponse(body)

    @api.get("/calendars/{calendar_id}/events/{event_id}")
    async def get_event(
        calendar_id: str, event_id: str, authorization: Auth = None
    ) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        event = calendar.events.get(event_id) if calendar is not None else None
        return _not_found() if event is None else JSONResponse(event)

    @api.patch("/calendars/{calendar_id}/events/{event_id}")
    async def patch_event(
        calendar_id: str, event_id: str, request: Request, authorization: Auth = None
    ) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        stored = calendar.events.get(event_id) if calendar is not None else None
        if calendar is None or stored is None:
            return _not_found()
        query = request.query_params
        updates = _send_updates(query.get("sendUpdates"))
        version = _query_int(query.get("conferenceDataVersion"), "conferenceDataVersion", 0, 1, 0)
        body = await _json_object(request)
        if "id" in body and body["id"] != event_id:
            raise _BadRequest("invalid", "Invalid resource id value.")
        event = json.loads(json.dumps(stored))  # change a copy: a refusal leaves it as it was
        _merge(event, {k: v for k, v in body.items() if k not in _READ_ONLY | {"id"}})
        event.pop("conferenceData", None)
        if "conferenceData" in stored:
            event["conferenceData"] = stored["conferenceData"]
        if "attendees" in body:
            event["attendees"] = _attendees(body["attendees"], account.email)
        before = _span(stored, calendar.time_zone)
        if _span(event, calendar.time_zone) != before:
            event["sequence"] = int(stored.get("sequence", 0)) + 1
        if "conferenceData" not in stored:
            _conference(event, body, version)
        _touch(event, datetime.now(UTC))
        calendar.events[event_id] = event
        state.updates_sent.append(UpdateSent(calendar.id, event_id, "patch", updates))
        return JSONResponse(event)

    @api.delete("/calendars/{calendar_id}/events/{event_id}", response_model=None)
    async def delete_event(
        calendar_id: str, event_id: str, request: Request, authorization: Auth = None
    ) -> Response:
        """204; the event stays, `cancelled`, so a second delete answers 410 as Google's."""
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        event = calendar.events.get(event_id) if calendar is not None else None
        if calendar is None or event is None:
            return _not_found()
        updates = _send_updates(request.query_params.get("sendUpdates"))
        if event.get("status") == "cancelled":
            return google_error(410, "deleted", "Resource has been deleted")
        event["status"] = "cancelled"
        _touch(event, datetime.now(UTC))
        state.updates_sent.append(UpdateSent(calendar.id, event_id, "delete", updates))
        return Response(status_code=204)

    def list_entry(calendar: SandboxCalendar, account: GoogleAccount) -> dict[str, Any]:
        return {
            "kind": "calendar#calendarListEntry",
            "etag": '"1"',
            "id": calendar.id,
            "summary": calendar.summary,
            "timeZone": calendar.time_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
            "primary": calendar is account.calendar,
        }

    @api.get("/users/me/calendarList")
    async def calendar_list(authorization: Auth = None) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        return JSONResponse(
            {
                "kind": "calendar#calendarList",
                "etag": '"1"',
                "nextSyncToken": "sandbox",
                "items": [
                    list_entry(calendar, account)
                    for calendar in state.calendars.values()
                    if calendar.owner == account.email
                ],
            }
        )

    @api.get("/users/me/calendarList/{calendar_id}")
    async def calendar_list_entry(calendar_id: str, authorization: Auth = None) -> JSONResponse:
        account = caller(authorization)
        if isinstance(account, JSONResponse):
            return account
        calendar = calendar_of(account, calendar_id)
        return _not_found() if calendar is None else JSONResponse(list_entry(calendar, account))

    @api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(path: str) -> JSONResponse:
        return _not_found()

    return api


# -- the token endpoint ---------------------------------------------------------------


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def create_google_token_router(state: GoogleState) -> APIRouter:
    """`POST /google/token`: `grant_type=refresh_token`, as oauth2.googleapis.com/token."""
    router = APIRouter(tags=["Google sandbox"])

    @router.post("/google/token", response_model=None)
    async def token(request: Request) -> JSONResponse:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error(400, "invalid_request", "Bad Request")
        try:
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request", "Bad Request")
        refresh_token = form.get("refresh_token", "")
        state.token_requests[refresh_token] += 1
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}"
            )
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        grant = state.refresh_tokens.get(refresh_token)
        account = state.accounts.get(grant.email) if grant is not None else None
        if grant is None or grant.revoked or account is None:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        access_token = state.issue_access_token(account, refresh_token)
        return JSONResponse(
            {
                "access_token": access_token,
                "expires_in": account.expires_in,
                "scope": SCOPE,
                "token_type": "Bearer",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return router


# -- /sandbox/google/... --------------------------------------------------------------


class _AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    email: Email
    time_zone: Timezone = Field(alias="timeZone")
    expires_in: int = Field(
        alias="expiresIn", default=DEFAULT_EXPIRES_IN, strict=True, ge=1, le=86_400
    )


class _CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    owner: Email
    summary: str = Field(default="Secondary", min_length=1, max_length=255)
    time_zone: Timezone | None = Field(alias="timeZone", default=None)


class _RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    refresh_token: str | None = Field(alias="refreshToken", default=None)
    access_token: str | None = Field(alias="accessToken", default=None)


def create_google_admin(state: GoogleState) -> APIRouter:
    """`/sandbox/google/...`: set accounts up and look at what was booked, from outside."""
    router = APIRouter(prefix="/sandbox/google", tags=["Google sandbox"])

    @router.post("/accounts", status_code=201, response_model=None)
    async def add_account(body: _AccountIn) -> dict[str, Any] | JSONResponse:
        """A new account; its access tokens expire after `expiresIn` seconds."""
        if body.email in state.accounts:
            return JSONResponse({"detail": "an account with this email exists"}, status_code=409)
        account, access, refresh = state.add_account(
            body.email, body.time_zone, expires_in=body.expires_in
        )
        return {
            "googleId": account.google_id,
            "accessToken": access,
            "refreshToken": refresh,
            "expiresIn": account.expires_in,
        }

    @router.post("/calendars", status_code=201, response_model=None)
    async def add_calendar(body: _CalendarIn) -> dict[str, Any] | JSONResponse:
        """A secondary calendar of an account (its time zone by default)."""
        if body.owner not in state.accounts:
            return JSONResponse({"detail": "no account with this email"}, status_code=404)
        calendar = state.add_calendar(body.owner, body.summary, body.time_zone)
        return {"id": calendar.id, "summary": calendar.summary, "timeZone": calendar.time_zone}

    @router.get("/events", response_model=None)
    async def events(calendar_id: Annotated[str, Query(alias="calendarId")]) -> Any:
        """Every event of a calendar, cancelled ones included (`status`)."""
        calendar = state.calendars.get(calendar_id)
        if calendar is None:
            return JSONResponse({"detail": "no such calendar"}, status_code=404)
        return {"calendarId": calendar.id, "items": list(calendar.events.values())}

    @router.post("/revoke", status_code=204, response_model=None)
    async def revoke(body: _RevokeIn) -> Response:
        """Revoke a refresh token (its next refresh gets `invalid_grant`) or an access token."""
        tokens = [t for t in (body.refresh_token, body.access_token) if t]
        if not tokens:
            return JSONResponse({"detail": "send refreshToken or accessToken"}, status_code=422)
        if not all([state.revoke(t) for t in tokens]):
            return JSONResponse({"detail": "unknown token"}, status_code=404)
        return Response(status_code=204)

    return router
