"""Cal.com API v2 client: one pooled `httpx.AsyncClient`, owned by the app's lifespan.

Each operation sends the `cal-api-version` its endpoint requires, goes through
`agentcal.providers.http.send_mapped` (backoff, `Retry-After`, time budget; repeats only what is
safe), and parses the `{"status": "success", "data": …}` envelope into Pydantic models.
Failures raise `CalcomError` subclasses carrying the tool error code; none of them
ever holds the API key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from agentcal.providers import http
from agentcal.providers.calcom.errors import (
    CalcomAuthError,
    CalcomError,
    CalcomNotFound,
    CalcomRateLimited,
    CalcomRequestError,
    CalcomSlotUnavailable,
    CalcomUnavailable,
)
from agentcal.scheduling.speech import say

EVENT_TYPES_VERSION = "2024-06-14"
SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
# What Cal.com says when the slot is taken or outside availability: today a 409 with
# an error code such as `no_available_users_found_error`; older versions a 400.
_UNAVAILABLE_HINTS = (
    "already has booking",
    "not available",
    "no available users",
    "fixed hosts unavailable",
)
_ALREADY_CANCELLED = "already been cancelled"
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class EventType(_Model):
    id: int
    slug: str
    title: str
    length_in_minutes: int = Field(alias="lengthInMinutes")


class Me(_Model):
    id: int
    username: str
    email: str
    time_zone: str = Field(alias="timeZone")


class Slot(_Model):
    start: datetime
    end: datetime | None = None


class Attendee(_Model):
    name: str
    email: str | None = None
    time_zone: str = Field(alias="timeZone")
    phone_number: str | None = Field(default=None, alias="phoneNumber")


class BookingEventType(_Model):
    id: int
    slug: str


class Booking(_Model):
    id: int
    uid: str
    title: str
    status: str
    start: datetime
    end: datetime
    duration: int
    event_type: BookingEventType | None = Field(default=None, alias="eventType")
    attendees: list[Attendee] = []
    location: str | None = None
    cancellation_reason: str | None = Field(default=None, alias="cancellationReason")
    rescheduled_to_uid: str | None = Field(default=None, alias="rescheduledToUid")
    rescheduled_from_uid: str | None = Field(default=None, alias="rescheduledFromUid")
    # What the booking's creator stored with it (agentcal: the tool call that made it).
    # Read leniently: one odd booking must not fail a whole listing.
    metadata: Annotated[dict[str, Any], BeforeValidator(lambda v: v or {})] = {}


def _utc(moment: datetime | date) -> str:
    """Cal.com wants UTC ISO 8601 (`2050-09-05T09:00:00Z`); a date stays a date."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to the Cal.com client")
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return moment.isoformat()


class CalcomClient:
    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = http.DEFAULT_TIMEOUT,
        policy: http.RetryPolicy = http.DEFAULT_POLICY,
    ) -> None:
        self._http = http.pooled_client(base_url, transport=transport, timeout=timeout)
        self.policy = policy

    async def aclose(self) -> None:
        await self._http.aclose()

    async def me(self, api_key: str) -> Me:
        """`GET /v2/me`: whose key this is (and their timezone)."""
        data = await self._call("GET", "/v2/me", api_key, None, op="me", safe=True)
        return _parse(Me, data)

    async def event_types(self, api_key: str, username: str) -> list[EventType]:
        """`GET /v2/event-types?username=`: the user's event types."""
        data = await self._call(
            "GET",
            "/v2/event-types",
            api_key,
            EVENT_TYPES_VERSION,
            params={"username": username},
            op="event_types",
            safe=True,
        )
        if not isinstance(data, list):
            raise CalcomError(say("Cal.com answered event types in an unexpected shape"))
        return [_parse(EventType, item) for item in data]

    async def slots(
        self,
        api_key: str | None,
        *,
        start: datetime | date,
        end: datetime | date,
        time_zone: str,
        event_type_id: int | None = None,
        event_type_slug: str | None = None,
        username: str | None = None,
        duration: int | None = None,
    ) -> list[Slot]:
        """`GET /v2/slots`: free slots of an event type, as `start`/`end` ranges, in order."""
        params: dict[str, str] = {
            "start": _utc(start),
            "end": _utc(end),
            "timeZone": time_zone,
            "format": "range",
        }
        params |= _event_type_ref(event_type_id, event_type_slug, username)
        if duration is not None:
            params["duration"] = str(duration)
        data = await self._call(
            "GET", "/v2/slots", api_key, SLOTS_VERSION, params=params, op="slots", safe=True
        )
        if not isinstance(data, dict):
            raise CalcomError(say("Cal.com answered slots in an unexpected shape"))
        found = [_parse(Slot, s) for day in sorted(data) for s in data[day] or []]
        return sorted(found, key=lambda slot: slot.start)

    async def create_booking(
        self,
        api_key: str,
        *,
        start: datetime,
        attendee_name: str,
        attendee_email: str,
        attendee_time_zone: str,
        attendee_phone: str | None = None,
        event_type_id: int | None = None,
        event_type_slug: str | None = None,
        username: str | None = None,
        length_in_minutes: int | None = None,
        notes: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Booking:
        """`POST /v2/bookings`. Not repeated after a possibly-processed failure: the
        caller re-checks the slot before booking again.

        `metadata` is stored with the booking and returned with it (Cal.com allows 50
        keys of up to 40 characters, string values of up to 500)."""
        attendee: dict[str, Any] = {
            "name": attendee_name,
            "email": attendee_email,
            "timeZone": attendee_time_zone,
        }
        if attendee_phone:
            attendee["phoneNumber"] = attendee_phone
        body: dict[str, Any] = {"start": _utc(start), "attendee": attendee}
        ref = _event_type_ref(event_type_id, event_type_slug, username)
        body |= {k: int(v) if k == "eventTypeId" else v for k, v in ref.items()}
        if length_in_minutes is not None:
            body["lengthInMinutes"] = length_in_minutes
        if notes:
            body["bookingFieldsResponses"] = {"notes": notes}
        if metadata:
            body["metadata"] = metadata
        data = await self._call(
            "POST",
            "/v2/bookings",
            api_key,
            BOOKINGS_VERSION,
            json=body,
            op="create_booking",
            safe=False,
        )
        return _parse(Booking, data)

    async def list_bookings(
        self,
        api_key: str,
        *,
        attendee_email: str | None = None,
        after_start: datetime | None = None,
        before_end: datetime | None = None,
        soonest_first: bool = False,
    ) -> list[Booking]:
        """`GET /v2/bookings`: the key owner's bookings, filtered (first 100), by start
        time when `soonest_first` (else in Cal.com's own order)."""
        params: dict[str, str] = {"take": "100"}
        if soonest_first:
            params["sortStart"] = "asc"
        if attendee_email:
            params["attendeeEmail"] = attendee_email
        if after_start is not None:
            params["afterStart"] = _utc(after_start)
        if before_end is not None:
            params["beforeEnd"] = _utc(before_end)
        data = await self._call(
            "GET",
            "/v2/bookings",
            api_key,
            BOOKINGS_VERSION,
            params=params,
            op="list_bookings",
            safe=True,
        )
        if not isinstance(data, list):
            raise CalcomError(say("Cal.com answered bookings in an unexpected shape"))
        # Recurring and seated bookings come in other shapes; agentcal books neither.
        return [_parse(Booking, item) for item in data if isinstance(item, dict) and "uid" in item]

    async def get_booking(self, api_key: str, uid: str) -> Booking:
        data = await self._call(
            "GET",
            f"/v2/bookings/{http.segment(uid)}",
            api_key,
            BOOKINGS_VERSION,
            op="get_booking",
            safe=True,
        )
        return _parse(Booking, data)

    async def cancel_booking(self, api_key: str, uid: str, reason: str | None = None) -> Booking:
        """`POST /v2/bookings/{uid}/cancel`. Safe to repeat: a repeat that finds the
        booking already cancelled (its first try succeeded) returns the booking."""
        body = {"cancellationReason": reason} if reason else {}
        try:
            data = await self._call(
                "POST",
                f"/v2/bookings/{http.segment(uid)}/cancel",
                api_key,
                BOOKINGS_VERSION,
                json=body,
                op="cancel_booking",
                safe=True,
            )
        except CalcomRequestError as exc:
            if _ALREADY_CANCELLED not in exc.detail:
                raise
            return await self.get_booking(api_key, uid)
        return _parse(Booking, data)

    async def reschedule_booking(
        self, api_key: str, uid: str, start: datetime, reason: str | None = None
    ) -> Booking:
        """`POST /v2/bookings/{uid}/reschedule`: the new booking (with a new uid)."""
        body: dict[str, Any] = {"start": _utc(start)}
        if reason:
            body["reschedulingReason"] = reason
        data = await self._call(
            "POST",
            f"/v2/bookings/{http.segment(uid)}/reschedule",
            api_key,
            BOOKINGS_VERSION,
            json=body,
            op="reschedule_booking",
            safe=False,
        )
        return _parse(Booking, data)

    async def _call(
        self,
        method: str,
        path: str,
        api_key: str | None,
        version: str | None,
        *,
        op: str,
        safe: bool,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        headers: dict[str, str] = {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if version:
            headers["cal-api-version"] = version
        request = self._http.build_request(method, path, params=params, json=json, headers=headers)
        response = await http.send_mapped(
            self._http,
            request,
            label="Cal.com",
            unavailable=CalcomUnavailable,
            provider="calcom",
            operation=op,
            safe=safe,
            policy=self.policy,
        )
        return _data(response)


def _event_type_ref(
    event_type_id: int | None, slug: str | None, username: str | None
) -> dict[str, str]:
    if event_type_id is not None:
        return {"eventTypeId": str(event_type_id)}
    if slug and username:
        return {"eventTypeSlug": slug, "username": username}
    raise ValueError("give an event type id, or a slug with a username")


def _parse(model: type[M], data: Any) -> M:
    return http.parse(model, data, CalcomError, "Cal.com")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or response.reason_phrase)[:300]


def _data(response: httpx.Response) -> Any:
    status = response.status_code
    if status in (401, 403):
        raise CalcomAuthError(
            say(
                "Cal.com refused the integration's API key ({status}); set a valid key with "
                "PUT /api/v1/calcom/integration/{{id}} and `apiKey`",
                status=status,
            )
        )
    if status == 404:
        raise CalcomNotFound(say("Cal.com: {message}", message=_error_message(response)))
    if status == 429:
        wait = response.headers.get("Retry-After")
        said = (
            say("Cal.com is rate-limiting this API key; retry after {seconds} s", seconds=wait)
            if wait
            else say("Cal.com is rate-limiting this API key")
        )
        raise CalcomRateLimited(
            said,
            headers={"Retry-After": wait} if wait else None,
        )
    if status >= 500:
        raise CalcomUnavailable(say("Cal.com is unavailable ({status})", status=status))
    if status >= 400:
        message = _error_message(response)
        words = message.lower().replace("_", " ")
        if status == 409 or any(hint in words for hint in _UNAVAILABLE_HINTS):
            raise CalcomSlotUnavailable(say("Cal.com: {message}", message=message))
        raise CalcomRequestError(
            say("Cal.com refused the request ({status}): {message}", status=status, message=message)
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise CalcomError(say("Cal.com answered with something that is not JSON")) from exc
    if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
        raise CalcomError(say("Cal.com answered without its success envelope"))
    return body["data"]
