"""The contract validator catches real breakages, accepts real requests, and is wired in."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from agentcal.providers.calcom.client import CalcomClient
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME, CalcomState
from tests.contract import specs
from tests.contract.recorder import CONTRACT_LOG, ContractLog, ContractRecorder, provider_path
from tests.contract.specs import validate_request, validate_response

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

CAL_EVENT_TYPES = {"cal-api-version": "2024-06-14", "Authorization": f"Bearer {DEMO_API_KEY}"}
CAL_SLOTS = {"cal-api-version": "2024-09-04"}
CAL_BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": "Bearer cal_live_0123abcd"}
GOOGLE = {"Authorization": "Bearer ya29.a0AfB_byC-sandbox"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EVENTS = "/calendar/v3/calendars/primary/events"

BOOKING = {
    "start": "2050-09-05T13:00:00Z",
    "eventTypeId": 2,
    "attendee": {
        "name": "Ana Souza",
        "email": "ana@example.com",
        "timeZone": "America/Sao_Paulo",
        "language": "pt-BR",
    },
    "guests": ["rui@example.com"],
    "location": {"type": "integration", "integration": "google-meet"},
    "metadata": {"agentcalFunction": "fn_123"},
    "bookingFieldsResponses": {"notes": "First consultation"},
}
EVENT_IN = {
    "summary": "Intro call with Ana Souza",
    "description": "Booked by agentcal",
    "start": {"dateTime": "2050-09-05T10:00:00-03:00", "timeZone": "America/Sao_Paulo"},
    "end": {"dateTime": "2050-09-05T10:30:00-03:00", "timeZone": "America/Sao_Paulo"},
    "attendees": [{"email": "ana@example.com", "displayName": "Ana Souza"}],
    "conferenceData": {
        "createRequest": {
            "requestId": "7f0c2a9e-5b7d-4c1e-9f43-2d6a0f3b8e11",
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
        }
    },
}
FREEBUSY_IN = {
    "timeMin": "2050-09-05T00:00:00Z",
    "timeMax": "2050-09-06T00:00:00-03:00",
    "timeZone": "America/Sao_Paulo",
    "items": [{"id": "primary"}, {"id": "team@example.com"}],
}
REFRESH = b"grant_type=refresh_token&client_id=123.apps.googleusercontent.com&client_secret=GOCSPX-s&refresh_token=1%2F%2F0g-abc"  # noqa: E501


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `base` with keys replaced, or removed when the value is `...`."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not ...}


# -- requests that break the specs -----------------------------------------------------------

BROKEN: list[Any] = [
    pytest.param(
        (
            "calcom",
            "GET",
            "/v2/event-types",
            {"username": "demo"},
            {"Authorization": "Bearer k"},
            None,
        ),
        "Missing required header parameter: cal-api-version",
        id="calcom-missing-cal-api-version",
    ),
    pytest.param(
        (
            "calcom",
            "GET",
            "/v2/event-types",
            {"username": "demo"},
            {"cal-api-version": "2024-08-13"},
            None,
        ),
        "'2024-08-13' is not one of ['2024-06-14']",
        id="calcom-wrong-cal-api-version",
    ),
    pytest.param(
        ("calcom", "POST", "/v2/bookings", None, CAL_BOOKINGS, _with(BOOKING, eventTypeId="2")),
        "body.eventTypeId: '2' is not of type 'number'",
        id="calcom-eventTypeId-as-a-string",
    ),
    pytest.param(
        (
            "calcom",
            "GET",
            "/v2/slots",
            {"eventTypeId": "two", "start": "2050-09-05", "end": "2050-09-06"},
            CAL_SLOTS,
            None,
        ),
        "query parameter 'eventTypeId': 'two' is not a number",
        id="calcom-slots-eventTypeId-not-a-number",
    ),
    pytest.param(
        ("calcom", "GET", "/v2/slots", {"eventTypeId": "2"}, CAL_SLOTS, None),
        "Missing required query parameter: start",
        id="calcom-slots-without-start-and-end",
    ),
    pytest.param(
        ("calcom", "POST", "/v2/bookings", None, CAL_BOOKINGS, _with(BOOKING, attendee=...)),
        "body: 'attendee' is a required property",
        id="calcom-booking-without-attendee",
    ),
    pytest.param(
        ("calcom", "POST", "/v2/bookings", None, CAL_BOOKINGS, _with(BOOKING, eventTypeId=...)),
        "needs eventTypeId, or eventTypeSlug with username or teamSlug",
        id="calcom-booking-without-event-type",
    ),
    pytest.param(
        (
            "calcom",
            "POST",
            "/v2/bookings",
            None,
            CAL_BOOKINGS,
            _with(BOOKING, start="2050-09-05T10:00:00-03:00"),
        ),
        "is not ISO 8601 in UTC",
        id="calcom-booking-start-not-utc",
    ),
    pytest.param(
        ("calcom", "GET", "/v2/event-types", {"userName": "demo"}, CAL_EVENT_TYPES, None),
        "query parameter 'userName' is not a parameter",
        id="calcom-misspelled-query-parameter",
    ),
    pytest.param(
        ("calcom", "GET", "/v2/me", None, {}, None),
        "Missing required header parameter: Authorization",
        id="calcom-me-without-key",
    ),
    pytest.param(
        (
            "google",
            "POST",
            EVENTS,
            {"conferenceDataVersion": "1"},
            GOOGLE,
            _with(EVENT_IN, start=...),
        ),
        "body.start: required by calendar.events.insert",
        id="google-insert-without-start",
    ),
    pytest.param(
        (
            "google",
            "POST",
            "/calendar/v3/freeBusy",
            None,
            GOOGLE,
            _with(FREEBUSY_IN, timeMin="2050-09-05 00:00"),
        ),
        "body.timeMin: '2050-09-05 00:00' is not an RFC 3339 date-time",
        id="google-freebusy-timeMin-not-rfc3339",
    ),
    pytest.param(
        ("google", "POST", "/calendar/v3/freeBusy", None, GOOGLE, {}),
        "body.timeMin: required by freebusy.query",
        id="google-freebusy-empty-body",
    ),
    pytest.param(
        (
            "google",
            "POST",
            EVENTS,
            {"sendUpdates": "everyone", "conferenceDataVersion": "1"},
            GOOGLE,
            EVENT_IN,
        ),
        "'everyone' is not one of ['all', 'externalOnly', 'none']",
        id="google-sendUpdates-enum",
    ),
    pytest.param(
        ("google", "POST", EVENTS, {"conferenceDataVersion": "2"}, GOOGLE, EVENT_IN),
        "2 is greater than the maximum of 1",
        id="google-conferenceDataVersion-2",
    ),
    pytest.param(
        ("google", "POST", EVENTS, None, GOOGLE, EVENT_IN),
        "conferenceData is sent but conferenceDataVersion is not 1",
        id="google-meet-without-conferenceDataVersion",
    ),
    pytest.param(
        (
            "google",
            "POST",
            EVENTS,
            {"conferenceDataVersion": "1"},
            GOOGLE,
            _with(EVENT_IN, attendees=[{"displayName": "Ana"}]),
        ),
        "body.attendees[0].email: required when adding an attendee",
        id="google-attendee-without-email",
    ),
    pytest.param(
        (
            "google",
            "POST",
            EVENTS,
            {"conferenceDataVersion": "1"},
            GOOGLE,
            _with(EVENT_IN, id="Booking-42"),
        ),
        "is not base32hex",
        id="google-event-id-not-base32hex",
    ),
    pytest.param(
        (
            "google",
            "POST",
            EVENTS,
            {"conferenceDataVersion": "1"},
            GOOGLE,
            _with(EVENT_IN, start={"dateTime": "2050-09-05T10:00:00"}),
        ),
        "body.start.dateTime: no offset and no timeZone",
        id="google-local-time-without-zone",
    ),
    pytest.param(
        (
            "google",
            "PATCH",
            f"{EVENTS}/abc123def",
            {"sendUpdate": "all"},
            GOOGLE,
            {"summary": "x", "colour": "5"},
        ),
        "body.colour: not a field of Event",
        id="google-patch-unknown-field",
    ),
    pytest.param(
        ("google", "DELETE", f"{EVENTS}/abc123def", {"sendUpdates": "all"}, {}, None),
        "header Authorization: missing",
        id="google-without-bearer-token",
    ),
    pytest.param(
        (
            "google",
            "GET",
            "/calendar/v3/users/me/calendarList",
            {"maxResults": "many"},
            GOOGLE,
            None,
        ),
        "'many' is not a integer",
        id="google-calendarList-maxResults-not-integer",
    ),
    pytest.param(
        (
            "google_oauth",
            "POST",
            "/token",
            None,
            FORM,
            b"client_id=c&client_secret=s&refresh_token=r",
        ),
        "grant_type is missing",
        id="oauth-without-grant_type",
    ),
    pytest.param(
        (
            "google_oauth",
            "POST",
            "/token",
            None,
            FORM,
            b"grant_type=refresh_token&client_id=c&client_secret=s",
        ),
        "refresh_token is missing",
        id="oauth-without-refresh_token",
    ),
    pytest.param(
        (
            "google_oauth",
            "POST",
            "/token",
            None,
            {"Content-Type": "application/json"},
            {
                "grant_type": "refresh_token",
                "refresh_token": "r",
                "client_id": "c",
                "client_secret": "s",
            },
        ),
        "Content-Type must be application/x-www-form-urlencoded",
        id="oauth-json-body",
    ),
    pytest.param(
        ("google_oauth", "POST", "/token", None, FORM, b"grant_type=refresh_token&refresh_token=r"),
        "client authentication is missing: client_id, client_secret",
        id="oauth-without-client-credentials",
    ),
]


@pytest.mark.parametrize(("request_parts", "expected"), BROKEN)
def test_a_request_that_breaks_the_spec_is_caught(
    request_parts: tuple[Any, ...], expected: str
) -> None:
    violations = validate_request(*request_parts)
    assert any(expected in v for v in violations), violations


# -- requests that meet the specs ------------------------------------------------------------

VALID: list[Any] = [
    pytest.param(
        "calcom",
        "GET",
        "/v2/event-types",
        {"username": "demo"},
        CAL_EVENT_TYPES,
        None,
        id="calcom-event-types",
    ),
    pytest.param("calcom", "GET", "/v2/me", None, CAL_EVENT_TYPES, None, id="calcom-me"),
    pytest.param(
        "calcom",
        "GET",
        "/v2/slots",
        {
            "eventTypeId": "2",
            "start": "2050-09-05",
            "end": "2050-09-06T23:59:59Z",
            "timeZone": "America/Sao_Paulo",
            "format": "range",
        },
        CAL_SLOTS,
        None,
        id="calcom-slots-by-id",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/slots",
        {
            "eventTypeSlug": "30min",
            "username": "demo",
            "start": "2050-09-05T00:00:00Z",
            "end": "2050-09-06T00:00:00Z",
        },
        CAL_SLOTS,
        None,
        id="calcom-slots-by-slug",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/slots/reservations",
        None,
        CAL_SLOTS,
        {"eventTypeId": 2, "slotStart": "2050-09-05T13:00:00Z"},
        id="calcom-reserve-slot",
    ),
    pytest.param(
        "calcom", "POST", "/v2/bookings", None, CAL_BOOKINGS, BOOKING, id="calcom-create-booking"
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings",
        None,
        CAL_BOOKINGS,
        _with(
            BOOKING,
            eventTypeId=...,
            eventTypeSlug="30min",
            username="demo",
            location=...,
            metadata=...,
        ),
        id="calcom-create-booking-by-slug",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/bookings/9a7f5c1e-booking",
        None,
        CAL_BOOKINGS,
        None,
        id="calcom-get-booking",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/bookings",
        {"status": "upcoming", "attendeeEmail": "ana@example.com", "take": "50"},
        CAL_BOOKINGS,
        None,
        id="calcom-list-bookings",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings/9a7f5c1e-booking/cancel",
        None,
        CAL_BOOKINGS,
        {"cancellationReason": "The customer asked to cancel"},
        id="calcom-cancel-booking",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings/9a7f5c1e-booking/reschedule",
        None,
        CAL_BOOKINGS,
        {"start": "2050-09-06T14:00:00Z", "reschedulingReason": "clash"},
        id="calcom-reschedule-booking",
    ),
    pytest.param(
        "google", "POST", "/calendar/v3/freeBusy", None, GOOGLE, FREEBUSY_IN, id="google-freebusy"
    ),
    pytest.param(
        "google",
        "POST",
        EVENTS,
        {"sendUpdates": "all", "conferenceDataVersion": "1"},
        GOOGLE,
        EVENT_IN,
        id="google-insert-with-meet",
    ),
    pytest.param(
        "google",
        "POST",
        EVENTS,
        {"sendUpdates": "none"},
        GOOGLE,
        {
            "summary": "Holiday",
            "start": {"date": "2050-12-25"},
            "end": {"date": "2050-12-26"},
            "id": "agentcal0booking0042",
            "extendedProperties": {"private": {"agentcalBooking": "42"}},
        },
        id="google-insert-all-day",
    ),
    pytest.param(
        "google",
        "PATCH",
        f"{EVENTS}/abc123def",
        {"sendUpdates": "all"},
        GOOGLE,
        {
            "start": {"dateTime": "2050-09-05T11:00:00Z", "date": None},
            "end": {"dateTime": "2050-09-05T11:30:00Z", "date": None},
            "description": None,
        },
        id="google-patch",
    ),
    pytest.param(
        "google",
        "DELETE",
        f"{EVENTS}/abc123def",
        {"sendUpdates": "all"},
        GOOGLE,
        None,
        id="google-delete",
    ),
    pytest.param("google", "GET", f"{EVENTS}/abc123def", None, GOOGLE, None, id="google-get"),
    pytest.param(
        "google",
        "GET",
        EVENTS,
        [
            ("timeMin", "2050-09-05T00:00:00Z"),
            ("timeMax", "2050-09-06T00:00:00Z"),
            ("singleEvents", "true"),
            ("orderBy", "startTime"),
            ("privateExtendedProperty", "agentcalBooking=42"),
            ("privateExtendedProperty", "agentcalFunction=fn_1"),
        ],
        GOOGLE,
        None,
        id="google-list-events",
    ),
    pytest.param(
        "google",
        "GET",
        "/calendar/v3/users/me/calendarList/primary",
        None,
        GOOGLE,
        None,
        id="google-calendarList-get",
    ),
    pytest.param(
        "google",
        "GET",
        "/users/me/calendarList",
        {"minAccessRole": "writer"},
        GOOGLE,
        None,
        id="google-calendarList-list-without-prefix",
    ),
    pytest.param("google_oauth", "POST", "/token", None, FORM, REFRESH, id="oauth-refresh"),
    pytest.param(
        "google_oauth",
        "POST",
        "/token",
        None,
        {**FORM, "Authorization": "Basic " + base64.b64encode(b"cid:secret").decode()},
        b"grant_type=refresh_token&refresh_token=r&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcalendar",
        id="oauth-refresh-basic-auth",
    ),
]


@pytest.mark.parametrize(("provider", "method", "path", "query", "headers", "body"), VALID)
def test_a_correct_request_passes(
    provider: specs.Provider,
    method: str,
    path: str,
    query: Any,
    headers: dict[str, str],
    body: Any,
) -> None:
    assert validate_request(provider, method, path, query, headers, body) == []


def test_requests_are_named_by_their_operation() -> None:
    assert specs.operation_for("calcom", "POST", "/v2/bookings/u1/cancel") == (
        "BookingsController_2024_08_13_cancelBooking"
    )
    assert specs.operation_for("google", "POST", f"{EVENTS}/import") == "calendar.events.import"
    assert specs.operation_for("google", "GET", f"{EVENTS}/e1") == "calendar.events.get"
    assert specs.operation_for("google_oauth", "POST", "/token", REFRESH) == (
        "oauth2.token (refresh_token)"
    )
    assert validate_request("calcom", "GET", "/v2/nowhere", None, CAL_BOOKINGS) == [
        "GET /v2/nowhere is not an operation of Cal.com API v2"
    ]


# -- responses -------------------------------------------------------------------------------

BOOKING_OUT = {
    "id": 101,
    "uid": "9a7f5c1e-booking",
    "title": "30 min meeting between Demo and Ana Souza",
    "description": "",
    "hosts": [
        {
            "id": 1,
            "name": "Demo",
            "email": "demo@example.com",
            "displayEmail": "demo@example.com",
            "username": "demo",
            "timeZone": "America/Sao_Paulo",
        }
    ],
    "status": "accepted",
    "start": "2050-09-05T13:00:00.000Z",
    "end": "2050-09-05T13:30:00.000Z",
    "duration": 30,
    "eventTypeId": 2,
    "eventType": {"id": 2, "slug": "30min"},
    "location": "integrations:google:meet",
    "absentHost": False,
    "createdAt": "2050-09-01T12:00:00.000Z",
    "updatedAt": "2050-09-01T12:00:00.000Z",
    "attendees": [
        {
            "name": "Ana Souza",
            "email": "ana@example.com",
            "displayEmail": "ana@example.com",
            "timeZone": "America/Sao_Paulo",
            "absent": False,
            "language": "pt-BR",
        }
    ],
    "bookingFieldsResponses": {"name": "Ana Souza", "email": "ana@example.com"},
    "guests": ["rui@example.com"],
}
EVENT_OUT = {
    "kind": "calendar#event",
    "etag": '"3421859374000000"',
    "id": "agentcal0booking0042",
    "status": "confirmed",
    "htmlLink": "https://www.google.com/calendar/event?eid=YWdlbnRjYWw",
    "created": "2050-09-01T12:00:00.000Z",
    "updated": "2050-09-01T12:00:00.000Z",
    "summary": "Intro call with Ana Souza",
    "creator": {"email": "demo@example.com", "self": True},
    "organizer": {"email": "demo@example.com", "self": True},
    "start": {"dateTime": "2050-09-05T10:00:00-03:00", "timeZone": "America/Sao_Paulo"},
    "end": {"dateTime": "2050-09-05T10:30:00-03:00", "timeZone": "America/Sao_Paulo"},
    "iCalUID": "agentcal0booking0042@google.com",
    "sequence": 0,
    "attendees": [{"email": "ana@example.com", "responseStatus": "needsAction"}],
    "hangoutLink": "https://meet.google.com/abc-defg-hij",
    "conferenceData": {
        "createRequest": {
            "requestId": "7f0c2a9e",
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
            "status": {"statusCode": "success"},
        },
        "entryPoints": [
            {
                "entryPointType": "video",
                "uri": "https://meet.google.com/abc-defg-hij",
                "label": "meet.google.com/abc-defg-hij",
            }
        ],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        "conferenceId": "abc-defg-hij",
    },
    "reminders": {"useDefault": True},
    "eventType": "default",
}
FREEBUSY_OUT = {
    "kind": "calendar#freeBusy",
    "timeMin": "2050-09-05T00:00:00.000Z",
    "timeMax": "2050-09-06T03:00:00.000Z",
    "calendars": {
        "primary": {"busy": [{"start": "2050-09-05T13:00:00Z", "end": "2050-09-05T13:30:00Z"}]},
        "team@example.com": {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []},
    },
}
CALENDAR_ENTRY = {
    "kind": "calendar#calendarListEntry",
    "etag": '"1700000000000000"',
    "id": "demo@example.com",
    "summary": "demo@example.com",
    "timeZone": "America/Sao_Paulo",
    "accessRole": "owner",
    "primary": True,
    "defaultReminders": [{"method": "popup", "minutes": 10}],
}


def _event_types_output() -> dict[str, Any]:
    """What the Cal.com sandbox answers today, built from its own state."""
    user = CalcomState().users[DEMO_USERNAME]
    return {"status": "success", "data": [e.output() for e in user.event_types]}


GOOD_RESPONSES: list[Any] = [
    pytest.param(
        "calcom",
        "GET",
        "/v2/event-types",
        200,
        _event_types_output(),
        None,
        id="calcom-event-types",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings",
        201,
        {"status": "success", "data": BOOKING_OUT},
        None,
        id="calcom-booking",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings/9a7f5c1e-booking/cancel",
        200,
        {
            "status": "success",
            "data": {**BOOKING_OUT, "status": "cancelled", "cancellationReason": "asked"},
        },
        None,
        id="calcom-cancelled-booking",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/slots",
        200,
        {
            "status": "success",
            "data": {
                "2050-09-05": [
                    {
                        "start": "2050-09-05T10:00:00.000-03:00",
                        "end": "2050-09-05T10:30:00.000-03:00",
                    }
                ]
            },
        },
        {"format": "range"},
        id="calcom-slots-envelope",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/me",
        404,
        {
            "status": "error",
            "timestamp": "2050-09-01T12:00:00.000Z",
            "path": "/v2/me",
            "error": {"code": "NotFoundException", "message": "User not found"},
        },
        None,
        id="calcom-error-envelope",
    ),
    pytest.param("google", "POST", EVENTS, 200, EVENT_OUT, None, id="google-event"),
    pytest.param(
        "google", "POST", "/calendar/v3/freeBusy", 200, FREEBUSY_OUT, None, id="google-freebusy"
    ),
    pytest.param(
        "google",
        "GET",
        "/calendar/v3/users/me/calendarList/primary",
        200,
        CALENDAR_ENTRY,
        None,
        id="google-calendar-list-entry",
    ),
    pytest.param(
        "google", "DELETE", f"{EVENTS}/abc123def", 204, None, None, id="google-delete-204"
    ),
    pytest.param(
        "google",
        "POST",
        "/calendar/v3/freeBusy",
        400,
        {
            "error": {
                "errors": [
                    {
                        "domain": "calendar",
                        "reason": "timeRangeEmpty",
                        "message": "The specified time range is empty.",
                        "locationType": "parameter",
                        "location": "timeMax",
                    }
                ],
                "code": 400,
                "message": "The specified time range is empty.",
            }
        },
        None,
        id="google-error-envelope",
    ),
    pytest.param(
        "google_oauth",
        "POST",
        "/token",
        200,
        {
            "access_token": "ya29.new",
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/calendar",
        },
        None,
        id="oauth-token",
    ),
    pytest.param(
        "google_oauth",
        "POST",
        "/token",
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        None,
        id="oauth-invalid-grant",
    ),
]


@pytest.mark.parametrize(("provider", "method", "path", "status", "body", "query"), GOOD_RESPONSES)
def test_a_correct_response_passes(
    provider: specs.Provider, method: str, path: str, status: int, body: Any, query: Any
) -> None:
    headers = {"content-type": "application/json"}
    assert validate_response(provider, method, path, status, headers, body, query) == []


BAD_RESPONSES: list[Any] = [
    pytest.param(
        "calcom",
        "GET",
        "/v2/event-types",
        200,
        {"status": "success", "data": [{"id": 2, "slug": "30min"}]},
        None,
        "'lengthInMinutes' is a required property",
        id="calcom-event-type-fields",
    ),
    pytest.param(
        "calcom",
        "POST",
        "/v2/bookings",
        201,
        {"status": "success", "data": _with(BOOKING_OUT, status="confirmed")},
        None,
        "'confirmed' is not one of",
        id="calcom-booking-status-enum",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/bookings/u1",
        200,
        {"status": "success", "data": _with(BOOKING_OUT, attendees=...)},
        None,
        "'attendees' is a required property",
        id="calcom-booking-without-attendees",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/slots",
        200,
        {"status": "success", "data": {"2050-09-05": [{"start": "2050-09-05T10:00"}]}},
        {"format": "range"},
        "end: not an ISO 8601 date-time",
        id="calcom-slots-range",
    ),
    pytest.param(
        "calcom",
        "GET",
        "/v2/me",
        401,
        {"message": "Unauthorized"},
        None,
        "body.status: None, not 'error'",
        id="calcom-error-not-nestjs-shape",
    ),
    pytest.param(
        "google",
        "POST",
        EVENTS,
        200,
        _with(EVENT_OUT, id=...),
        None,
        "body.id: missing",
        id="google-event-without-id",
    ),
    pytest.param(
        "google",
        "PATCH",
        f"{EVENTS}/x1y2z3",
        200,
        _with(EVENT_OUT, sequence="0"),
        None,
        "body.sequence: expected an integer",
        id="google-event-field-type",
    ),
    pytest.param(
        "google",
        "GET",
        f"{EVENTS}/x1y2z3",
        200,
        _with(EVENT_OUT, location=None),
        None,
        "body.location: null",
        id="google-event-null-field",
    ),
    pytest.param(
        "google",
        "POST",
        "/calendar/v3/freeBusy",
        200,
        _with(FREEBUSY_OUT, calendars={"primary": {}}),
        None,
        "body.calendars['primary'].busy: missing",
        id="google-freebusy-without-busy",
    ),
    pytest.param(
        "google",
        "DELETE",
        f"{EVENTS}/abc123def",
        200,
        {},
        None,
        "answers 204 with no body",
        id="google-delete-200",
    ),
    pytest.param(
        "google",
        "GET",
        "/calendar/v3/users/me/calendarList/primary",
        200,
        _with(CALENDAR_ENTRY, accessRole=...),
        None,
        "body.accessRole: missing",
        id="google-calendar-entry-without-role",
    ),
    pytest.param(
        "google",
        "GET",
        f"{EVENTS}/x1y2z3",
        404,
        {"error": "not found"},
        None,
        "lacks the `error` object",
        id="google-error-not-google-shape",
    ),
    pytest.param(
        "google_oauth",
        "POST",
        "/token",
        200,
        {"access_token": "ya29.x"},
        None,
        "token_type is None, not Bearer",
        id="oauth-without-token-type",
    ),
    pytest.param(
        "google_oauth",
        "POST",
        "/token",
        400,
        {"error": "expired"},
        None,
        "not an RFC 6749 §5.2 error code",
        id="oauth-unknown-error-code",
    ),
]


@pytest.mark.parametrize(
    ("provider", "method", "path", "status", "body", "query", "expected"), BAD_RESPONSES
)
def test_a_response_that_breaks_the_spec_is_caught(
    provider: specs.Provider,
    method: str,
    path: str,
    status: int,
    body: Any,
    query: Any,
    expected: str,
) -> None:
    headers = {"content-type": "application/json"}
    violations = validate_response(provider, method, path, status, headers, body, query)
    assert any(expected in v for v in violations), violations


def test_5xx_bodies_are_not_judged() -> None:
    """They come from front ends and injected faults, which no spec describes."""
    check = specs.check_response("calcom", "GET", "/v2/me", 503, {}, b"<html>busy</html>")
    assert check.violations == ()
    assert not check.validated


# -- the recorder ----------------------------------------------------------------------------


def test_sandbox_paths_map_to_the_providers_paths() -> None:
    assert provider_path("/calcom/v2/bookings/u1") == ("calcom", "/v2/bookings/u1")
    assert provider_path("/google/calendar/v3/freeBusy") == ("google", "/calendar/v3/freeBusy")
    assert provider_path("/google/token") == ("google_oauth", "/token")
    assert provider_path("/sandbox/faults") is None
    assert provider_path("/health") is None


async def test_a_client_request_is_recorded_and_validated(sandbox: SandboxServer) -> None:
    before = len(CONTRACT_LOG.exchanges)
    client = CalcomClient(f"{sandbox.url}/calcom")
    try:
        types = await client.event_types(DEMO_API_KEY, DEMO_USERNAME)
    finally:
        await client.aclose()
    assert types
    [exchange] = CONTRACT_LOG.exchanges[before:]
    assert exchange.operation == "EventTypesController_2024_06_14_getEventTypes"
    assert (exchange.method, exchange.path) == ("GET", "/v2/event-types")
    assert exchange.query == [("username", DEMO_USERNAME)]
    assert exchange.headers["cal-api-version"] == "2024-06-14"
    assert exchange.status == 200
    assert exchange.violations == []
    assert exchange.response_validated


@pytest.mark.spec_violation_expected
async def test_a_malformed_request_is_recorded_with_its_violation(sandbox: SandboxServer) -> None:
    before = len(CONTRACT_LOG.exchanges)
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        await http.get("/calcom/v2/event-types", params={"username": DEMO_USERNAME})
    [exchange] = CONTRACT_LOG.exchanges[before:]
    assert exchange.violations == ["request: Missing required header parameter: cal-api-version"]
    # The sandbox refuses it in Cal.com's error envelope, which is checked too (and is right).
    assert exchange.status == 400
    assert exchange.response_violations == ()


async def test_fault_requests_and_sandbox_admin_are_not_recorded(sandbox: SandboxServer) -> None:
    before, skipped = len(CONTRACT_LOG.exchanges), CONTRACT_LOG.skipped
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        faulted = await http.get(
            "/calcom/v2/me", headers={"X-Sandbox-Fault": "status=503"}
        )  # no Authorization: would break the spec, but faults test the client, not the contract
        await http.delete("/sandbox/faults")
    assert faulted.status_code == 503
    assert len(CONTRACT_LOG.exchanges) == before
    assert CONTRACT_LOG.skipped == skipped + 1


async def test_the_recorder_judges_answers_before_the_client_sees_them() -> None:
    """A wrong answer from a (fake) provider is recorded, with the request, by the time the
    client's call returns: the test that made it can be failed for it."""
    log = ContractLog()
    wrong = JSONResponse({"status": "success", "data": [{"id": 2}]})
    transport = httpx.ASGITransport(app=ContractRecorder(wrong, log))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        await http.get(
            "/calcom/v2/event-types", params={"username": "demo"}, headers=CAL_EVENT_TYPES
        )
        await http.post("/google/token", content=REFRESH + b"&grant_type=password", headers=FORM)
    calcom, token = log.take_unchecked()
    assert calcom.request_violations == ()
    assert any("'slug' is a required property" in v for v in calcom.response_violations)
    assert token.operation == "oauth2.token (refresh_token)"
    assert token.request_violations == ("parameter 'grant_type' sent 2 times",)
    assert log.counts()["calcom", "EventTypesController_2024_06_14_getEventTypes"] == {
        "requests": 1,
        "responses": 1,
        "violations": 1,
        "expected": 0,
    }


async def test_the_recorder_replays_the_request_body_to_the_app() -> None:
    seen: list[bytes] = []

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await Response(status_code=204)(scope, receive, send)

    transport = httpx.ASGITransport(app=ContractRecorder(echo, ContractLog()))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        await http.post("/google/token", content=REFRESH, headers=FORM)
    assert seen == [REFRESH]


# -- the plugin, end to end --------------------------------------------------------------------

PLUGIN_SUITE = """
import asyncio

import httpx
import pytest
from starlette.responses import JSONResponse

from tests.contract.recorder import ContractRecorder

EVENT_TYPES = JSONResponse({"status": "success", "data": []})


def call(headers):
    async def go():
        transport = httpx.ASGITransport(app=ContractRecorder(EVENT_TYPES))
        async with httpx.AsyncClient(transport=transport, base_url="http://s.test") as http:
            await http.get("/calcom/v2/event-types", headers=headers)
    asyncio.run(go())


def test_breaks_the_spec():
    call({})


@pytest.mark.spec_violation_expected
def test_breaks_it_on_purpose():
    call({})


@pytest.mark.spec_violation_expected
def test_claims_to_but_does_not():
    call({"cal-api-version": "2024-06-14"})
"""


def test_the_plugin_fails_a_test_whose_requests_break_the_spec(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.contract.plugin"]\n')
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    spec_violation_expected: on purpose\n"
    )
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(PLUGIN_SUITE))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 1, out
    assert "FAILED test_suite.py::test_breaks_the_spec" in out
    assert "Missing required header parameter: cal-api-version" in out
    assert "FAILED test_suite.py::test_claims_to_but_does_not" in out
    assert "1 passed" in out
    assert "EventTypesController_2024_06_14_getEventTypes" in out  # the summary table
