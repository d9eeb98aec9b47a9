"""The Google sandbox answers as Google does: events, freeBusy, auth, the token endpoint.

Raw HTTP, no agentcal client, so the shapes checked here are the sandbox's own. (Every
exchange is also validated against the official documents by tests/contract.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agentcal.sandbox.google import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEMO_ACCESS_TOKEN,
    DEMO_EMAIL,
    DEMO_GOOGLE_ID,
    DEMO_REFRESH_TOKEN,
)
from tests.conftest import SandboxServer
from tests.providers.google_calendar.support import Account, new_account

API = "/google/calendar/v3"
INVALID_CREDENTIALS = {
    "error": {
        "errors": [
            {
                "domain": "global",
                "reason": "authError",
                "message": "Invalid Credentials",
                "locationType": "header",
                "location": "Authorization",
            }
        ],
        "code": 401,
        "message": "Invalid Credentials",
    }
}


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _at(hours: float) -> datetime:
    """A time a week ahead, on the hour, plus `hours`."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    return base + timedelta(hours=hours)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _event(start: datetime, minutes: int = 30, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "Consultation",
        "start": {"dateTime": _z(start), "timeZone": "America/Sao_Paulo"},
        "end": {"dateTime": _z(start + timedelta(minutes=minutes)), "timeZone": "UTC"},
        "attendees": [{"email": "patient@example.org"}],
    }
    body.update(extra)
    return body


async def _insert(
    http: httpx.AsyncClient, account: Account, body: dict[str, Any], **params: str
) -> httpx.Response:
    return await http.post(
        f"{API}/calendars/{account.email}/events",
        params=params,
        json=body,
        headers=_auth(account.access_token),
    )


async def _free_busy(
    http: httpx.AsyncClient, account: Account, start: datetime, end: datetime
) -> list[dict[str, str]]:
    response = await http.post(
        f"{API}/freeBusy",
        json={"timeMin": _z(start), "timeMax": _z(end), "items": [{"id": account.email}]},
        headers=_auth(account.access_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "calendar#freeBusy"
    busy: list[dict[str, str]] = body["calendars"][account.email]["busy"]
    return busy


async def test_the_demo_account_is_ready(http: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    entry = await http.get(f"{API}/users/me/calendarList/primary", headers=_auth(DEMO_ACCESS_TOKEN))
    assert entry.status_code == 200
    assert entry.json()["id"] == DEMO_EMAIL
    assert entry.json()["timeZone"] == "America/Sao_Paulo"
    assert entry.json()["primary"] is True
    assert sandbox.google.accounts[DEMO_EMAIL].google_id == DEMO_GOOGLE_ID
    refreshed = await http.post(
        "/google/token",
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": DEMO_REFRESH_TOKEN,
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["token_type"] == "Bearer"


async def test_free_busy_is_computed_from_the_events(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    for body in (
        _event(_at(1)),  # 1:00-1:30
        _event(_at(1.5), 60),  # 1:30-2:30, touches the first: merged
        _event(_at(4), transparency="transparent"),  # free time: not busy
        _event(_at(-1), 90),  # -1:00-0:30, clipped to timeMin
    ):
        assert (await _insert(http, account, body)).status_code == 200
    cancelled = (await _insert(http, account, _event(_at(3)))).json()
    deleted = await http.delete(
        f"{API}/calendars/{account.email}/events/{cancelled['id']}",
        headers=_auth(account.access_token),
    )
    assert deleted.status_code == 204

    busy = await _free_busy(http, account, _at(0), _at(6))

    assert busy == [
        {"start": _z(_at(0)), "end": _z(_at(0.5))},
        {"start": _z(_at(1)), "end": _z(_at(2.5))},
    ]


async def test_a_duplicate_client_id_is_409_duplicate(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    event_id = uuid.uuid4().hex
    first = await _insert(http, account, _event(_at(1), id=event_id))
    again = await _insert(http, account, _event(_at(2), id=event_id))
    assert first.status_code == 200
    assert first.json()["id"] == event_id
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "duplicate"
    assert again.json()["error"]["code"] == 409


@pytest.mark.spec_violation_expected
async def test_an_id_outside_base32hex_is_refused(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    for bad in ("abc", "ABCDEF", "wxyz12345", "abc_def"):
        response = await _insert(http, account, _event(_at(1), id=bad))
        assert response.status_code == 400, bad
        assert response.json()["error"]["errors"][0]["reason"] == "invalid"


async def test_events_have_the_fields_google_sets(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    response = await _insert(http, account, _event(_at(1), description="Notes"), sendUpdates="all")
    assert response.status_code == 200
    event = response.json()
    assert event["kind"] == "calendar#event"
    assert event["status"] == "confirmed"
    assert event["summary"] == "Consultation"
    assert event["description"] == "Notes"
    assert event["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert event["iCalUID"] == f"{event['id']}@google.com"
    assert event["organizer"] == {"email": account.email, "self": True}
    assert event["creator"] == {"email": account.email, "self": True}
    assert event["attendees"] == [{"email": "patient@example.org", "responseStatus": "needsAction"}]
    assert event["created"].endswith("Z")
    assert event["updated"].endswith("Z")
    assert event["start"] == {"dateTime": _z(_at(1)), "timeZone": "America/Sao_Paulo"}
    assert "hangoutLink" not in event
    assert "conferenceData" not in event


async def test_a_meet_link_needs_conference_data_version_1(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    conference = {
        "createRequest": {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
    }
    with_meet = await _insert(
        http, account, _event(_at(1), conferenceData=conference), conferenceDataVersion="1"
    )
    event = with_meet.json()
    assert event["hangoutLink"].startswith("https://meet.google.com/")
    assert event["conferenceData"]["createRequest"]["status"] == {"statusCode": "success"}
    assert event["conferenceData"]["createRequest"]["requestId"] == "req-1"
    assert event["conferenceData"]["entryPoints"][0]["uri"] == event["hangoutLink"]


@pytest.mark.spec_violation_expected
async def test_without_conference_data_version_1_conference_data_is_ignored(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    """Version 0 (the default): Google ignores `conferenceData`, and so does the sandbox."""
    account = await new_account(sandbox)
    conference = {
        "createRequest": {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
    }
    ignored = await _insert(http, account, _event(_at(2), conferenceData=conference))
    assert ignored.status_code == 200
    assert "conferenceData" not in ignored.json()
    assert "hangoutLink" not in ignored.json()


_BROKEN = pytest.mark.spec_violation_expected  # no bearer token at all breaks the spec


@pytest.mark.parametrize(
    ("headers", "reason", "message"),
    [
        pytest.param({}, "required", "Login Required", marks=_BROKEN),
        (_auth("ya29.nobody-issued-this"), "authError", "Invalid Credentials"),
        pytest.param(
            {"Authorization": f"Basic {DEMO_ACCESS_TOKEN}"},
            "authError",
            "Invalid Credentials",
            marks=_BROKEN,
        ),
    ],
)
async def test_requests_without_a_valid_bearer_token_are_401(
    http: httpx.AsyncClient, headers: dict[str, str], reason: str, message: str
) -> None:
    response = await http.get(f"{API}/users/me/calendarList/primary", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (401, message)
    assert error["errors"][0]["reason"] == reason
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_expired_access_token_gets_googles_invalid_credentials(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    sandbox.google.access_tokens[account.access_token].expires_at = sandbox.google.clock() - 1
    response = await http.get(
        f"{API}/users/me/calendarList/primary", headers=_auth(account.access_token)
    )
    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS


async def test_other_peoples_calendars_are_not_found(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    response = await http.get(
        f"{API}/calendars/{DEMO_EMAIL}/events", headers=_auth(account.access_token)
    )
    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "notFound"


async def test_patch_merges_and_delete_cancels_then_410(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    event = (await _insert(http, account, _event(_at(1)))).json()
    url = f"{API}/calendars/{account.email}/events/{event['id']}"
    patched = await http.patch(
        url,
        json={"start": {"dateTime": _z(_at(5))}, "end": {"dateTime": _z(_at(5.5))}},
        params={"sendUpdates": "all"},
        headers=_auth(account.access_token),
    )
    assert patched.status_code == 200
    assert patched.json()["start"] == {"dateTime": _z(_at(5)), "timeZone": "America/Sao_Paulo"}
    assert patched.json()["summary"] == "Consultation"
    assert patched.json()["sequence"] == 1
    # A change is a new version: a new etag, and `updated` not before the insert's (both
    # are written to the millisecond, so two quick writes may share the same `updated`).
    assert patched.json()["etag"] != event["etag"]
    assert patched.json()["updated"] >= event["updated"]
    fetched = await http.get(url, headers=_auth(account.access_token))
    assert fetched.status_code == 200
    assert (fetched.json()["etag"], fetched.json()["updated"]) == (
        patched.json()["etag"],
        patched.json()["updated"],
    )

    backwards = await http.patch(
        url, json={"end": {"dateTime": _z(_at(4))}}, headers=_auth(account.access_token)
    )
    assert backwards.status_code == 400
    assert backwards.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"

    first = await http.delete(url, headers=_auth(account.access_token))
    second = await http.delete(url, headers=_auth(account.access_token))
    assert (first.status_code, first.content) == (204, b"")
    assert second.status_code == 410
    assert second.json()["error"]["errors"][0]["reason"] == "deleted"
    fetched = await http.get(url, headers=_auth(account.access_token))
    assert fetched.json()["status"] == "cancelled"
    missing = await http.get(url + "0", headers=_auth(account.access_token))
    assert missing.status_code == 404


async def test_list_orders_by_start_and_pages(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    for hours in (2, 0, 1, 50):
        await _insert(http, account, _event(_at(hours)))
    params = {
        "timeMin": _z(_at(0)),
        "timeMax": _z(_at(24)),
        "singleEvents": "true",
        "orderBy": "startTime",
        "maxResults": "2",
    }
    url = f"{API}/calendars/{account.email}/events"
    first = (await http.get(url, params=params, headers=_auth(account.access_token))).json()
    params["pageToken"] = first["nextPageToken"]
    second = (await http.get(url, params=params, headers=_auth(account.access_token))).json()
    starts = [e["start"]["dateTime"] for e in first["items"] + second["items"]]
    assert starts == [_z(_at(0)), _z(_at(1)), _z(_at(2))]
    assert "nextPageToken" not in second
    assert first["kind"] == "calendar#events"
    assert first["timeZone"] == "America/Sao_Paulo"


async def test_the_token_endpoint_issues_expiring_tokens_and_counts_requests(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": account.refresh_token,
    }
    response = await http.post("/google/token", data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("ya29.")
    assert "refresh_token" not in body  # Google keeps the refresh token; so does the sandbox
    grant = sandbox.google.access_tokens[body["access_token"]]
    assert grant.expires_at is not None
    assert 3590 < grant.expires_at - sandbox.google.clock() <= 3600
    assert sandbox.google.token_requests[account.refresh_token] == 1


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"refresh_token": "1//never-issued"}, 400, "invalid_grant"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        pytest.param(
            {"grant_type": "authorization_code"}, 400, "unsupported_grant_type", marks=_BROKEN
        ),
    ],
)
async def test_the_token_endpoint_refuses_as_rfc_6749_says(
    http: httpx.AsyncClient,
    sandbox: SandboxServer,
    change: dict[str, str],
    status: int,
    error: str,
) -> None:
    account = await new_account(sandbox)
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": account.refresh_token,
    }
    response = await http.post("/google/token", data={**form, **change})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


async def test_revoking_a_refresh_token_gives_invalid_grant_and_kills_its_access_tokens(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    revoked = await http.post(
        "/sandbox/google/revoke", json={"refreshToken": account.refresh_token}
    )
    assert revoked.status_code == 204
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": account.refresh_token,
    }
    refused = await http.post("/google/token", data=form)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    api = await http.get(
        f"{API}/users/me/calendarList/primary", headers=_auth(account.access_token)
    )
    assert api.status_code == 401
    unknown = await http.post("/sandbox/google/revoke", json={"refreshToken": "1//nope"})
    assert unknown.status_code == 404


async def test_sandbox_accounts_and_the_events_listing(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    made = await http.post(
        "/sandbox/google/accounts", json={"email": email, "timeZone": "Asia/Tokyo", "expiresIn": 60}
    )
    assert made.status_code == 201
    account = made.json()
    assert set(account) == {"googleId", "accessToken", "refreshToken", "expiresIn"}
    assert account["expiresIn"] == 60
    assert account["googleId"].isdigit()
    assert len(account["googleId"]) == 21
    assert account["refreshToken"].startswith("1//")
    again = await http.post("/sandbox/google/accounts", json={"email": email, "timeZone": "UTC"})
    assert again.status_code == 409
    bad = await http.post("/sandbox/google/accounts", json={"email": "x@y.z", "timeZone": "Mars"})
    assert bad.status_code == 422

    inserted = await http.post(
        f"{API}/calendars/{email}/events",
        json=_event(_at(1)),
        headers=_auth(account["accessToken"]),
    )
    listed = await http.get("/sandbox/google/events", params={"calendarId": email})
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [inserted.json()["id"]]
    missing = await http.get("/sandbox/google/events", params={"calendarId": "no@example.com"})
    assert missing.status_code == 404


async def test_list_searches_the_documented_fields_with_q(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    account = await new_account(sandbox)
    invited = _event(_at(0), attendees=[{"email": "Maria@Example.com", "displayName": "Maria"}])
    noted = _event(_at(1), description="Call first. Phone: +5511987654321")
    placed = _event(_at(2), summary="Check-up", location="Room 4, Rua Augusta")
    for body in (invited, noted, placed, _event(_at(3))):
        assert (await _insert(http, account, body)).status_code == 200
    url = f"{API}/calendars/{account.email}/events"

    async def found(query: str) -> list[str]:
        params = {"timeMin": _z(_at(-1)), "singleEvents": "true", "orderBy": "startTime"}
        answer = await http.get(
            url, params={**params, "q": query}, headers=_auth(account.access_token)
        )
        assert answer.status_code == 200, answer.text
        return [e["start"]["dateTime"] for e in answer.json()["items"]]

    assert await found("maria@example.com") == [_z(_at(0))]  # an attendee's e-mail, any case
    assert await found("+5511987654321") == [_z(_at(1))]  # the description
    assert await found("augusta check-up") == [_z(_at(2))]  # every term, in any field
    assert await found("augusta maria") == []
    assert len(await found(account.email)) == 4  # the organizer's e-mail is searched too
