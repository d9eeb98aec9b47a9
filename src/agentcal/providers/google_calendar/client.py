"""Google Calendar API v3 client and OAuth token refresh: one pooled `httpx.AsyncClient`.

The app's lifespan owns one `GoogleCalendarClient`. Every request goes
through `agentcal.providers.http.send_mapped` (backoff with jitter, `Retry-After`, a time
budget; transport failures raised as `GoogleUnavailable`):

* reads (`freeBusy`, event and calendar reads) are safe to repeat;
* `insert_event` is made safe by a client-chosen event id: a repeat of an insert that
  Google already applied answers 409 `duplicate`, and then the stored event is fetched
  and returned, so one call never creates two events;
* `patch_event` sends the same partial body again, which leaves the same event;
* `delete_event` treats 404/410 after a repeat (and 410 always) as "already deleted".

Tokens travel only in the `Authorization` header or the token request's form body;
errors are built from statuses and Google's `reason` codes, never from request data.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Generator, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from agentcal.db.locks import KeyedLocks
from agentcal.providers import http
from agentcal.providers.google_calendar.errors import (
    GoogleAccessTokenRefused,
    GoogleAuthError,
    GoogleError,
    GoogleInvalidGrant,
    GoogleNotFound,
    GoogleRateLimited,
    GoogleRequestError,
    GoogleUnavailable,
)
from agentcal.scheduling.speech import say

PROVIDER = "google"
# A refresh holds the function's row lock (credentials.py). On SQLite a writer waiting
# for that lock gives up after its 10 s busy timeout, so a refresh must end sooner.
TOKEN_POLICY = http.RetryPolicy(budget=8.0, request_timeout=5.0)
_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# Quotas that won't clear within a call's budget: reported as rate limits, not retried.
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
# google-auth repeats token requests that fail with these `error` values.
_TOKEN_RETRYABLE = frozenset({"internal_failure", "server_error", "temporarily_unavailable"})
_ATTEMPTS = "agentcal.attempts"
_MAX_LIST_PAGES = 20

SendUpdates = Literal["all", "externalOnly", "none"]
# How a request is authorised: an access token as it is, or an `httpx.Auth` that adds
# (and renews) one, such as a function's `credentials.FunctionAuth`.
Credential = str | httpx.Auth
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TokenGrant(_Model):
    """The token endpoint's answer. `refresh_token` is present only if Google rotated it."""

    access_token: str = Field(repr=False)
    expires_in: int
    scope: str | None = None
    token_type: str = "Bearer"
    refresh_token: str | None = Field(default=None, repr=False)


class TimePeriod(_Model):
    start: datetime
    end: datetime


class FreeBusyError(_Model):
    domain: str
    reason: str


class FreeBusyCalendar(_Model):
    busy: list[TimePeriod] = []
    errors: list[FreeBusyError] = []


class FreeBusy(_Model):
    time_min: datetime = Field(alias="timeMin")
    time_max: datetime = Field(alias="timeMax")
    calendars: dict[str, FreeBusyCalendar] = {}


class EventDateTime(_Model):
    """A timed (`dateTime`, RFC 3339) or all-day (`date`) start or end."""

    date_time: datetime | None = Field(default=None, alias="dateTime")
    day: date | None = Field(default=None, alias="date")  # not `date`: it would hide the type
    time_zone: str | None = Field(default=None, alias="timeZone")


class EventPerson(_Model):
    email: str | None = None
    display_name: str | None = Field(default=None, alias="displayName")
    self_: bool = Field(default=False, alias="self")


class EventAttendee(EventPerson):
    optional: bool = False
    organizer: bool = False
    response_status: str | None = Field(default=None, alias="responseStatus")


class EntryPoint(_Model):
    entry_point_type: str = Field(alias="entryPointType")
    uri: str | None = None
    label: str | None = None


class ConferenceRequestStatus(_Model):
    status_code: str = Field(alias="statusCode")


class ConferenceCreateRequest(_Model):
    request_id: str | None = Field(default=None, alias="requestId")
    status: ConferenceRequestStatus | None = None


class ConferenceData(_Model):
    conference_id: str | None = Field(default=None, alias="conferenceId")
    create_request: ConferenceCreateRequest | None = Field(default=None, alias="createRequest")
    entry_points: list[EntryPoint] = Field(default=[], alias="entryPoints")


class Event(_Model):
    """The fields of Google's Event resource that agentcal reads."""

    id: str
    status: str = "confirmed"
    html_link: str | None = Field(default=None, alias="htmlLink")
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    start: EventDateTime
    end: EventDateTime
    attendees: list[EventAttendee] = []
    organizer: EventPerson | None = None
    creator: EventPerson | None = None
    created: datetime | None = None
    updated: datetime | None = None
    i_cal_uid: str | None = Field(default=None, alias="iCalUID")
    hangout_link: str | None = Field(default=None, alias="hangoutLink")
    conference_data: ConferenceData | None = Field(default=None, alias="conferenceData")

    @property
    def meet_link(self) -> str | None:
        """The video link, from `hangoutLink` or the conference's video entry point."""
        if self.hangout_link:
            return self.hangout_link
        if self.conference_data is not None:
            for entry in self.conference_data.entry_points:
                if entry.entry_point_type == "video" and entry.uri:
                    return entry.uri
        return None


class CalendarListEntry(_Model):
    id: str
    summary: str | None = None
    time_zone: str | None = Field(default=None, alias="timeZone")
    primary: bool = False
    access_role: str | None = Field(default=None, alias="accessRole")


class Attendee(BaseModel):
    """Someone invited to an event being created."""

    model_config = ConfigDict(frozen=True)

    email: str
    display_name: str | None = None


class NewEvent(BaseModel):
    """What agentcal books: a timed event with attendees. Times must be timezone-aware."""

    summary: str
    start: datetime
    end: datetime
    time_zone: str
    description: str | None = None
    location: str | None = None
    attendees: list[Attendee] = []


def new_event_id() -> str:
    """A fresh event id Google accepts: base32hex (`a-v`, `0-9`), 5–1024 characters.

    A UUID's hex digits are a subset of base32hex, so 32 hex digits fit.
    """
    return uuid.uuid4().hex


def event_id_for(key: str) -> str:
    """The event id for idempotency key `key`: the same for every repeat of one tool
    call, so a repeat (even one in another process, after the first one died) can find
    the event that call made, and an insert of it again answers 409 `duplicate`.

    Base32hex of the key's SHA-256, lowercase and unpadded: 52 characters of `a-v`,
    `0-9`.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def rfc3339(moment: datetime) -> str:
    """`2026-01-31T12:00:00Z`; a naive datetime is a bug, not a guess at a timezone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the Google Calendar client")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class GoogleCalendarClient:
    """The Calendar API (`base_url`, e.g. `https://www.googleapis.com/calendar/v3`) and
    the OAuth token endpoint (`token_url`), over one connection pool."""

    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = http.DEFAULT_TIMEOUT,
        policy: http.RetryPolicy = http.DEFAULT_POLICY,
        token_policy: http.RetryPolicy = TOKEN_POLICY,
    ) -> None:
        self._http = http.pooled_client(
            base_url,
            transport=transport,
            timeout=timeout,
            event_hooks={"request": [_count_attempt]},
        )
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.policy = policy
        self.token_policy = token_policy
        # Single flight of token refreshes per function inside this process; it lives
        # as long as the pooled client (credentials.py takes the database lock).
        self.refresh_locks = KeyedLocks()

    @property
    def can_refresh(self) -> bool:
        """Refreshing needs the operator's OAuth client id and secret."""
        return bool(self._client_id and self._client_secret)

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- Calendar API -----------------------------------------------------------------

    async def free_busy(
        self,
        auth: Credential,
        calendar_ids: list[str],
        time_min: datetime,
        time_max: datetime,
        time_zone: str = "UTC",
    ) -> FreeBusy:
        """`POST /freeBusy`: busy intervals of each calendar between the two times."""
        body = {
            "timeMin": rfc3339(time_min),
            "timeMax": rfc3339(time_max),
            "timeZone": time_zone,
            "items": [{"id": calendar_id} for calendar_id in calendar_ids],
        }
        response = await self._send("POST", "/freeBusy", auth, op="free_busy", safe=True, json=body)
        return _parse(FreeBusy, _json(response))

    async def insert_event(
        self,
        auth: Credential,
        calendar_id: str,
        event: NewEvent,
        *,
        send_updates: SendUpdates = "all",
        conference: bool = False,
        event_id: str | None = None,
    ) -> Event:
        """`POST /calendars/{id}/events`, with a Meet link when `conference`.

        `event_id` (base32hex) makes the insert idempotent: pass one derived from an
        idempotency key to make repeats of a whole tool call safe too. Without it a
        fresh one is made, which still makes this call's own retries safe.
        """
        event_id = event_id or new_event_id()
        body = _event_body(event)
        body["id"] = event_id
        params: dict[str, str] = {"sendUpdates": send_updates}
        if conference:
            params["conferenceDataVersion"] = "1"
            body["conferenceData"] = {
                "createRequest": {
                    "requestId": event_id,
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            }
        path = f"/calendars/{http.segment(calendar_id)}/events"
        response = await self._send(
            "POST",
            path,
            auth,
            op="insert_event",
            safe=True,
            params=params,
            json=body,
            map_errors=False,
        )
        if response.status_code == 409 and _reason(response) == "duplicate":
            # Created by an earlier attempt (or call) with this id: that is our event.
            return await self.get_event(auth, calendar_id, event_id)
        _raise_for_status(response)
        return _parse(Event, _json(response))

    async def get_event(self, auth: Credential, calendar_id: str, event_id: str) -> Event:
        """`GET /calendars/{id}/events/{eventId}` (cancelled events too, as Google does)."""
        path = f"/calendars/{http.segment(calendar_id)}/events/{http.segment(event_id)}"
        response = await self._send("GET", path, auth, op="get_event", safe=True)
        return _parse(Event, _json(response))

    async def patch_event(
        self,
        auth: Credential,
        calendar_id: str,
        event_id: str,
        changes: Mapping[str, Any],
        *,
        send_updates: SendUpdates = "all",
    ) -> Event:
        """`PATCH /calendars/{id}/events/{eventId}` with a partial Event (Google's field
        names, e.g. `{"start": {...}, "end": {...}}`); see `reschedule_changes`."""
        path = f"/calendars/{http.segment(calendar_id)}/events/{http.segment(event_id)}"
        response = await self._send(
            "PATCH",
            path,
            auth,
            op="patch_event",
            safe=True,
            params={"sendUpdates": send_updates},
            json=dict(changes),
        )
        return _parse(Event, _json(response))

    async def delete_event(
        self,
        auth: Credential,
        calendar_id: str,
        event_id: str,
        *,
        send_updates: SendUpdates = "all",
    ) -> None:
        """`DELETE /calendars/{id}/events/{eventId}` (204).

        410 means the event is already deleted: the goal is reached. 404 is an error
        only on the first attempt; after a repeat it means our earlier attempt won.
        """
        path = f"/calendars/{http.segment(calendar_id)}/events/{http.segment(event_id)}"
        request = self._request("DELETE", path, params={"sendUpdates": send_updates})
        response = await self._send_request(request, op="delete_event", safe=True, auth=auth)
        if response.status_code == 410:
            return
        if response.status_code == 404 and request.extensions.get(_ATTEMPTS, [0])[0] > 1:
            return
        _raise_for_status(response)

    async def list_events(
        self,
        auth: Credential,
        calendar_id: str,
        time_min: datetime,
        time_max: datetime | None,
        *,
        query: str | None = None,
        page_size: int = 250,
        max_pages: int = _MAX_LIST_PAGES,
    ) -> list[Event]:
        """`GET /calendars/{id}/events`: single events overlapping the range (open-ended
        without `time_max`), by start time, following `nextPageToken` (at most
        `max_pages` pages of `page_size`). `query` is Google's free-text search (`q`):
        summary, description, location, attendees' and organizer's names and e-mails."""
        path = f"/calendars/{http.segment(calendar_id)}/events"
        params = {
            "timeMin": rfc3339(time_min),
            "singleEvents": "true",
            "orderBy": "startTime",
            "maxResults": str(page_size),
        }
        if time_max is not None:
            params["timeMax"] = rfc3339(time_max)
        if query:
            params["q"] = query
        events: list[Event] = []
        for _ in range(max_pages):
            response = await self._send(
                "GET", path, auth, op="list_events", safe=True, params=params
            )
            body = _json(response)
            items = body.get("items", [])
            if not isinstance(items, list):
                raise GoogleError(
                    say("Google Calendar answered an event list in an unexpected shape")
                )
            events.extend(_parse(Event, item) for item in items)
            token = body.get("nextPageToken")
            if not isinstance(token, str) or not token:
                return events
            params["pageToken"] = token
        return events

    async def get_calendar_list_entry(
        self, auth: Credential, calendar_id: str = "primary"
    ) -> CalendarListEntry:
        """`GET /users/me/calendarList/{calendarId}`: the calendar's name and timezone."""
        path = f"/users/me/calendarList/{http.segment(calendar_id)}"
        response = await self._send("GET", path, auth, op="calendar_list_get", safe=True)
        return _parse(CalendarListEntry, _json(response))

    # -- OAuth ------------------------------------------------------------------------

    async def refresh_access_token(self, refresh_token: str) -> TokenGrant:
        """`POST` `grant_type=refresh_token` to the token URL: a new access token.

        Repeating it is safe: each answer is a valid token. `invalid_grant` raises
        `GoogleInvalidGrant`; a refused client id/secret raises `GoogleAuthError`.
        """
        if not self.can_refresh:
            raise GoogleAuthError(
                say(
                    "cannot refresh Google access tokens: agentcal has no Google OAuth client; "
                    "set AGENTCAL_GOOGLE_CLIENT_ID and AGENTCAL_GOOGLE_CLIENT_SECRET"
                )
            )
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id or "",
            "client_secret": self._client_secret or "",
            "refresh_token": refresh_token,
        }
        request = self._http.build_request(
            "POST", self._token_url, data=form, headers={"Accept": "application/json"}
        )
        response = await self._send_request(
            request, op="token_refresh", safe=True, policy=self.token_policy
        )
        if response.status_code >= 400:
            raise _token_error(response)
        return _parse(TokenGrant, _json(response))

    # -- plumbing ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Request:
        return self._http.build_request(
            method, path, params=params, json=json, headers={"Accept": "application/json"}
        )

    async def _send(
        self,
        method: str,
        path: str,
        auth: Credential,
        *,
        op: str,
        safe: bool,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        map_errors: bool = True,
    ) -> httpx.Response:
        request = self._request(method, path, params=params, json=json)
        response = await self._send_request(request, op=op, safe=safe, auth=auth)
        if map_errors:
            _raise_for_status(response)
        return response

    async def _send_request(
        self,
        request: httpx.Request,
        *,
        op: str,
        safe: bool,
        policy: http.RetryPolicy | None = None,
        auth: Credential | None = None,
    ) -> httpx.Response:
        restart_attempts(request)
        return await http.send_mapped(
            self._http,
            request,
            label="Google",
            unavailable=GoogleUnavailable,
            provider=PROVIDER,
            operation=op,
            safe=safe,
            policy=policy or self.policy,
            throttled=_rate_limited,
            auth=BearerToken(auth) if isinstance(auth, str) else auth,
        )


def restart_attempts(request: httpx.Request) -> None:
    """Count `request`'s attempts from zero, before it is sent the first time."""
    request.extensions[_ATTEMPTS] = [0]


def forget_attempt(request: httpx.Request) -> None:
    """Uncount the attempt Google answered 401: it did nothing with it, so an `httpx.Auth`
    sending it again with a new token repeats nothing. Earlier attempts still count."""
    counter = request.extensions.get(_ATTEMPTS)
    if isinstance(counter, list) and counter[0] > 0:
        counter[0] -= 1


class BearerToken(httpx.Auth):
    """A fixed access token, for a caller that has one and nothing to renew it with."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


async def _count_attempt(request: httpx.Request) -> None:
    """Counts the attempts of one logical request (http.send repeats the same object)."""
    counter = request.extensions.get(_ATTEMPTS)
    if isinstance(counter, list):
        counter[0] += 1


def _event_body(event: NewEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": event.summary,
        "start": {"dateTime": rfc3339(event.start), "timeZone": event.time_zone},
        "end": {"dateTime": rfc3339(event.end), "timeZone": event.time_zone},
    }
    if event.description is not None:
        body["description"] = event.description
    if event.location is not None:
        body["location"] = event.location
    if event.attendees:
        body["attendees"] = [
            {"email": a.email, **({"displayName": a.display_name} if a.display_name else {})}
            for a in event.attendees
        ]
    return body


def reschedule_changes(start: datetime, end: datetime, time_zone: str) -> dict[str, Any]:
    """The partial Event that moves an event (for `patch_event`)."""
    return {
        "start": {"dateTime": rfc3339(start), "timeZone": time_zone},
        "end": {"dateTime": rfc3339(end), "timeZone": time_zone},
    }


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise GoogleError(say("Google answered with something that is not JSON")) from exc
    if not isinstance(body, dict):
        raise GoogleError(say("Google answered with JSON that is not an object"))
    return body


def _parse(model: type[M], data: Any) -> M:
    return http.parse(model, data, GoogleError, "Google")


def _error(response: httpx.Response) -> dict[str, Any]:
    """Google's `{"error": {"errors": [...], "code", "message"}}`, or `{}`."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _reason(response: httpx.Response) -> str | None:
    errors = _error(response).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = errors[0].get("reason")
        return reason if isinstance(reason, str) else None
    return None


def _message(response: httpx.Response) -> str:
    message = _error(response).get("message")
    text = message if isinstance(message, str) and message else response.reason_phrase
    return text[:300]


def _rate_limited(response: httpx.Response) -> bool:
    """Google's usage limits answer 403 with these reasons; they mean "try later"."""
    return response.status_code == 403 and _reason(response) in _RATE_LIMIT_REASONS


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    reason = _reason(response)
    detail = f"{_message(response)}" + (f" ({reason})" if reason else "")
    if status == 401:
        raise GoogleAccessTokenRefused(
            say(
                "Google refused the function's access token (401); supply a new googleToken "
                "with PUT /api/v1/functions/{{id}}, or a googleRefreshToken so agentcal can "
                "renew it"
            )
        )
    quota = status == 403 and _reason(response) in _QUOTA_REASONS
    if status == 429 or _rate_limited(response) or quota:
        retry = response.headers.get("Retry-After")
        said = (
            say(
                "Google Calendar is rate-limiting this account; retry after {seconds} s",
                seconds=retry,
            )
            if retry
            else say("Google Calendar is rate-limiting this account")
        )
        raise GoogleRateLimited(
            said,
            headers={"Retry-After": retry} if retry else None,
        )
    if status == 403:
        raise GoogleAuthError(
            say("Google refused access to the calendar (403): {detail}", detail=detail)
        )
    if status in (404, 410):
        raise GoogleNotFound(say("Google Calendar: {detail}", detail=detail))
    if status >= 500:
        raise GoogleUnavailable(say("Google Calendar is unavailable ({status})", status=status))
    raise GoogleRequestError(
        say(
            "Google Calendar refused the request ({status}): {detail}", status=status, detail=detail
        )
    )


def _token_error(response: httpx.Response) -> GoogleError:
    """The token endpoint's OAuth errors (`invalid_grant`, `invalid_client`, …) as agentcal's."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if error == "invalid_grant":
        return GoogleInvalidGrant(
            say(
                "Google refused the function's refresh token (invalid_grant: expired or "
                "revoked); supply a new googleToken with PUT /api/v1/functions/{{id}}"
            )
        )
    if error in ("invalid_client", "unauthorized_client"):
        return GoogleAuthError(
            say(
                "Google refused agentcal's OAuth client ({error}); check "
                "AGENTCAL_GOOGLE_CLIENT_ID and AGENTCAL_GOOGLE_CLIENT_SECRET",
                error=error,
            )
        )
    status = response.status_code
    if status == 429:
        return GoogleRateLimited(say("Google's token endpoint is rate-limiting agentcal"))
    if status >= 500 or error in _TOKEN_RETRYABLE:
        return GoogleUnavailable(
            say("Google's token endpoint is unavailable ({status})", status=status)
        )
    name = error if isinstance(error, str) else "no error code"
    return GoogleRequestError(
        say(
            "Google's token endpoint refused the refresh ({status}, {error})",
            status=status,
            error=name[:60],
        )
    )
