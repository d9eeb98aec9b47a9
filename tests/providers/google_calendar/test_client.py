"""The Google Calendar client against the sandbox, over real HTTP: every operation."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Generator
from datetime import timedelta

import httpx
import pytest

from agentcal.providers.google_calendar.client import (
    GoogleCalendarClient,
    forget_attempt,
    new_event_id,
    reschedule_changes,
)
from agentcal.providers.google_calendar.errors import (
    GoogleAccessTokenRefused,
    GoogleAuthError,
    GoogleError,
    GoogleInvalidGrant,
    GoogleNotFound,
    GoogleRequestError,
    GoogleUnavailable,
)
from agentcal.sandbox.google import DEMO_ACCESS_TOKEN, DEMO_EMAIL
from tests.conftest import SandboxServer
from tests.providers.google_calendar.support import (
    FAST,
    LoseFirstAnswer,
    days_ahead_at,
    google_client,
    meeting,
    new_account,
)


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    client = google_client(sandbox)
    yield client
    await client.aclose()


async def test_insert_event_books_it_with_the_attendee_and_updates_for_all(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    event = await google.insert_event(account.access_token, account.email, meeting(start))

    assert event.status == "confirmed"
    assert event.start.date_time == start
    assert event.end.date_time == start + timedelta(minutes=30)
    assert event.start.time_zone == "America/Sao_Paulo"
    assert [a.email for a in event.attendees] == ["maria.silva@example.org"]
    assert event.attendees[0].response_status == "needsAction"
    assert event.organizer is not None
    assert event.organizer.email == account.email
    assert event.html_link
    assert event.html_link.startswith("https://www.google.com/calendar/")
    assert event.i_cal_uid == f"{event.id}@google.com"
    assert event.meet_link is None
    stored = sandbox.google.calendars[account.email].events
    assert list(stored) == [event.id]
    assert [(u.action, u.send_updates) for u in sandbox.google.updates_sent] == [("insert", "all")]


async def test_event_ids_are_base32hex_as_google_requires() -> None:
    ids = {new_event_id() for _ in range(50)}
    assert len(ids) == 50
    for event_id in ids:
        assert 5 <= len(event_id) <= 1024
        assert set(event_id) <= set("0123456789abcdefghijklmnopqrstuv")


async def test_insert_with_conference_creates_a_meet_link(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    event = await google.insert_event(
        account.access_token, account.email, meeting(days_ahead_at(14)), conference=True
    )
    assert event.meet_link is not None
    assert event.meet_link.startswith("https://meet.google.com/")
    assert event.conference_data is not None
    assert event.conference_data.create_request is not None
    assert event.conference_data.create_request.request_id == event.id
    status = event.conference_data.create_request.status
    assert status is not None
    assert status.status_code == "success"


async def test_inserting_twice_with_one_id_returns_the_first_event(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    """A repeated tool call with the same id gets the event it created, not a second one."""
    account = await new_account(sandbox)
    event_id = new_event_id()
    first = await google.insert_event(
        account.access_token, account.email, meeting(days_ahead_at(13)), event_id=event_id
    )
    again = await google.insert_event(
        account.access_token, account.email, meeting(days_ahead_at(13)), event_id=event_id
    )
    assert again.id == first.id == event_id
    assert again.created == first.created
    assert len(sandbox.google.calendars[account.email].events) == 1


async def test_an_insert_whose_answer_was_lost_is_repeated_without_a_second_event(
    sandbox: SandboxServer,
) -> None:
    """Google created the event, the answer never arrived (503): the retry answers 409
    `duplicate`, and the client returns the event that exists."""
    account = await new_account(sandbox)
    transport = LoseFirstAnswer("POST")
    client = google_client(sandbox, transport=transport)
    try:
        event = await client.insert_event(
            account.access_token, account.email, meeting(days_ahead_at(15))
        )
    finally:
        await client.aclose()
    assert transport.lost == 1
    stored = sandbox.google.calendars[account.email].events
    assert list(stored) == [event.id]


async def test_free_busy_reports_the_booked_events(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    await google.insert_event(account.access_token, account.email, meeting(start))
    later = await google.insert_event(
        account.access_token, account.email, meeting(start + timedelta(hours=2), minutes=60)
    )
    await google.delete_event(account.access_token, account.email, later.id)

    answer = await google.free_busy(
        account.access_token,
        [account.email],
        start - timedelta(hours=1),
        start + timedelta(hours=5),
        "America/Sao_Paulo",
    )
    busy = answer.calendars[account.email].busy
    assert [(b.start, b.end) for b in busy] == [(start, start + timedelta(minutes=30))]
    assert answer.calendars[account.email].errors == []


async def test_free_busy_of_a_calendar_the_account_cannot_see_reports_an_error(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    answer = await google.free_busy(
        account.access_token, [DEMO_EMAIL], start, start + timedelta(hours=1)
    )
    calendar = answer.calendars[DEMO_EMAIL]
    assert calendar.busy == []
    assert [e.reason for e in calendar.errors] == ["notFound"]


async def test_patch_moves_the_event(sandbox: SandboxServer, google: GoogleCalendarClient) -> None:
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    event = await google.insert_event(account.access_token, account.email, meeting(start))
    moved_to = start + timedelta(days=1, hours=1)
    moved = await google.patch_event(
        account.access_token,
        account.email,
        event.id,
        reschedule_changes(moved_to, moved_to + timedelta(minutes=30), "America/Sao_Paulo"),
    )
    assert moved.id == event.id
    assert moved.start.date_time == moved_to
    assert moved.summary == event.summary  # patch keeps what it does not name
    assert [a.email for a in moved.attendees] == ["maria.silva@example.org"]
    stored = sandbox.google.calendars[account.email].events[event.id]
    assert stored["sequence"] == 1
    assert sandbox.google.updates_sent[-1].action == "patch"
    assert sandbox.google.updates_sent[-1].send_updates == "all"


async def test_delete_cancels_and_a_second_delete_is_already_done(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    event = await google.insert_event(
        account.access_token, account.email, meeting(days_ahead_at(13))
    )
    await google.delete_event(account.access_token, account.email, event.id)
    await google.delete_event(account.access_token, account.email, event.id)  # 410: done
    cancelled = await google.get_event(account.access_token, account.email, event.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(GoogleNotFound) as raised:
        await google.delete_event(account.access_token, account.email, new_event_id())
    assert raised.value.code == "not_found"


async def test_a_delete_whose_answer_was_lost_is_done(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    transport = LoseFirstAnswer("DELETE")
    client = google_client(sandbox, transport=transport)
    try:
        event = await client.insert_event(
            account.access_token, account.email, meeting(days_ahead_at(13))
        )
        await client.delete_event(account.access_token, account.email, event.id)
    finally:
        await client.aclose()
    assert transport.lost == 1
    assert sandbox.google.calendars[account.email].events[event.id]["status"] == "cancelled"


class _RenewOn401(httpx.Auth):
    """What a function's auth does after a 401: a new token, the request sent again."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer ya29.old"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = "Bearer ya29.new"
            forget_attempt(request)
            yield request


@pytest.mark.parametrize(
    ("answers", "raises"),
    [
        ([404], True),
        ([503, 404], False),
        ([401, 404], True),  # the 401 was no attempt: the 404 answers the first one
        ([503, 401, 404], False),  # the 503 may have deleted it: the 404 says so
    ],
)
async def test_delete_404_is_an_error_only_on_the_first_attempt(
    answers: list[int], raises: bool
) -> None:
    """After a repeat, 404 means the first attempt deleted the event; a request a 401
    refused and the auth sent again with a new token is no repeat."""
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        status = queue.pop(0)
        return httpx.Response(status, json={"error": {"code": status, "message": "Not Found"}})

    client = GoogleCalendarClient(
        "https://google.test/calendar/v3",
        "https://google.test/token",
        "id",
        "secret",
        transport=httpx.MockTransport(answer),
        policy=FAST,
    )
    try:
        if raises:
            with pytest.raises(GoogleNotFound):
                await client.delete_event(_RenewOn401(), "a@example.com", "abcdef")
        else:
            await client.delete_event(_RenewOn401(), "a@example.com", "abcdef")
    finally:
        await client.aclose()
    assert queue == []


async def test_list_events_follows_pages_in_start_order(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    base = days_ahead_at(12)
    for hours in (3, 1, 2, 0, 30):
        await google.insert_event(
            account.access_token, account.email, meeting(base + timedelta(hours=hours))
        )
    events = await google.list_events(
        account.access_token, account.email, base, base + timedelta(hours=4), page_size=2
    )
    assert [e.start.date_time for e in events] == [base + timedelta(hours=h) for h in range(4)]


async def test_calendar_list_entry_gives_the_calendars_timezone(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox, "Asia/Tokyo")
    primary = await google.get_calendar_list_entry(account.access_token)
    by_id = await google.get_calendar_list_entry(account.access_token, account.email)
    assert primary == by_id
    assert primary.id == account.email
    assert primary.time_zone == "Asia/Tokyo"
    assert primary.primary is True
    assert primary.access_role == "owner"


async def test_calendar_ids_are_percent_encoded_in_paths(sandbox: SandboxServer) -> None:
    """An e-mail with `+` would mean a space if it reached the path unencoded."""
    account = await new_account(sandbox, email="ana+clinic@example.com")
    paths: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.raw_path)

    client = google_client(sandbox)
    client._http.event_hooks["request"].append(record)
    try:
        event = await client.insert_event(
            account.access_token, account.email, meeting(days_ahead_at(13))
        )
        fetched = await client.get_event(account.access_token, account.email, event.id)
    finally:
        await client.aclose()
    assert fetched.id == event.id
    assert paths[0].startswith(b"/google/calendar/v3/calendars/ana%2Bclinic%40example.com/events")
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        listed = await http.get("/sandbox/google/events", params={"calendarId": account.email})
    assert [e["id"] for e in listed.json()["items"]] == [event.id]


async def test_refresh_gives_a_working_access_token(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    grant = await google.refresh_access_token(account.refresh_token)
    assert grant.expires_in == 3600
    assert grant.token_type == "Bearer"
    assert grant.access_token != account.access_token
    assert grant.access_token not in repr(grant)
    entry = await google.get_calendar_list_entry(grant.access_token)
    assert entry.id == account.email


async def test_a_revoked_refresh_token_is_invalid_grant(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    assert sandbox.google.revoke(account.refresh_token)
    with pytest.raises(GoogleInvalidGrant) as raised:
        await google.refresh_access_token(account.refresh_token)
    assert raised.value.code == "calendar_auth_expired"
    assert "invalid_grant" in str(raised.value)
    assert account.refresh_token not in str(raised.value)


async def test_a_wrong_client_secret_is_auth_invalid(sandbox: SandboxServer) -> None:
    account = await new_account(sandbox)
    client = google_client(sandbox, client_secret="not-the-secret")
    try:
        with pytest.raises(GoogleAuthError) as raised:
            await client.refresh_access_token(account.refresh_token)
    finally:
        await client.aclose()
    assert raised.value.code == "auth_invalid"
    assert "invalid_client" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)


async def test_without_an_oauth_client_nothing_is_sent(sandbox: SandboxServer) -> None:
    client = GoogleCalendarClient(
        f"{sandbox.url}/google/calendar/v3", f"{sandbox.url}/google/token", None, None
    )
    before = sum(sandbox.google.token_requests.values())
    try:
        assert not client.can_refresh
        with pytest.raises(GoogleAuthError) as raised:
            await client.refresh_access_token("1//whatever")
    finally:
        await client.aclose()
    assert "AGENTCAL_GOOGLE_CLIENT_ID" in str(raised.value)
    assert sum(sandbox.google.token_requests.values()) == before


async def test_an_unknown_access_token_is_refused_without_showing_it(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    token = "ya29.not-a-token-anyone-issued"
    with pytest.raises(GoogleAccessTokenRefused) as raised:
        await google.get_calendar_list_entry(token)
    assert raised.value.code == "calendar_auth_expired"
    assert token not in str(raised.value)


async def test_another_accounts_calendar_is_not_found(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    with pytest.raises(GoogleNotFound) as raised:
        await google.insert_event(account.access_token, DEMO_EMAIL, meeting(days_ahead_at(9)))
    assert raised.value.code == "not_found"
    with pytest.raises(GoogleNotFound):
        await google.get_calendar_list_entry(DEMO_ACCESS_TOKEN, account.email)


async def test_an_event_ending_before_it_starts_is_invalid_request(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    account = await new_account(sandbox)
    start = days_ahead_at(13)
    backwards = meeting(start, end=start - timedelta(minutes=30))
    with pytest.raises(GoogleRequestError) as raised:
        await google.insert_event(account.access_token, account.email, backwards)
    assert raised.value.code == "invalid_request"
    assert "timeRangeEmpty" in str(raised.value)


async def test_an_unreachable_google_is_upstream_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GoogleCalendarClient(
        f"http://127.0.0.1:{port}/calendar/v3",
        f"http://127.0.0.1:{port}/token",
        "id",
        "secret",
        policy=FAST,
    )
    try:
        with pytest.raises(GoogleUnavailable) as raised:
            await client.get_calendar_list_entry("ya29.secret-token-value")
    finally:
        await client.aclose()
    assert raised.value.code == "upstream_unavailable"
    assert "ya29.secret-token-value" not in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", json.dumps({"id": 5, "start": "tomorrow"}).encode()],
)
async def test_odd_success_bodies_are_google_errors_without_their_content(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = GoogleCalendarClient(
        "https://google.test/calendar/v3",
        "https://google.test/token",
        "id",
        "secret",
        transport=transport,
        policy=FAST,
    )
    try:
        with pytest.raises(GoogleError) as raised:
            await client.get_event("ya29.x", "a@example.com", "abcdef")
    finally:
        await client.aclose()
    assert raised.value.code == "upstream_unavailable"
    assert "tomorrow" not in str(raised.value)
