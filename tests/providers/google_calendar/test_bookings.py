"""Tool calls on a Google Calendar function, end to end: API → runtime → Google sandbox.

Each test makes a fresh sandbox account and a function holding its tokens, linked to a
bot; it fetches the bot's tool names and posts tool calls as an agent would. What was
booked is read back from the sandbox's own state, or its `/sandbox/google/events`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from agentcal.db.engine import utcnow
from agentcal.providers.google_calendar import bookings as google_actions
from agentcal.providers.google_calendar.client import GoogleCalendarClient, event_id_for
from agentcal.providers.google_calendar.models import GoogleCalendarPlugin
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.google_calendar.functions_support import (
    link_google_function,
    make_bot,
)
from tests.providers.google_calendar.support import Account, google_client, meeting, new_account
from tests.support import die_before_storing, next_monday

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
MORNING = [{"days": ["mon"], "start": "09:00", "end": "12:00"}]
ALL_DAY = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}
]


def local(day: date, hhmm: str, tz: ZoneInfo = SAO_PAULO) -> datetime:
    """`day` at `hhmm` local time, as an aware datetime."""
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(tzinfo=tz)


def starts(result: dict[str, Any]) -> list[str]:
    """The local HH:MM of every listed slot."""
    return [slot["start"][11:16] for slot in result["data"]["slots"]]


@dataclass(frozen=True)
class Setup:
    bot_id: str
    function_id: str
    account: Account
    names: dict[str, str]  # action → tool name


async def _function(tenant: Tenant, sandbox: SandboxServer, **settings: Any) -> Setup:
    """A Google Calendar function "Dr Ana" on a fresh sandbox account, linked to a bot."""
    bot_id = await make_bot(tenant)
    account, function_id = await link_google_function(tenant, sandbox, bot_id, **settings)
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    names = {
        t["function"]["name"].removesuffix("_dr_ana"): t["function"]["name"]
        for t in tools.json()["tools"]
    }
    assert set(names) == {
        "check_availability",
        "create_booking",
        "cancel_booking",
        "reschedule_booking",
        "find_booking",
    }
    return Setup(bot_id, function_id, account, names)


async def _call(
    tenant: Tenant, setup: Setup, action: str, arguments: dict[str, Any], call_id: str | None = None
) -> dict[str, Any]:
    call = {"id": call_id or uuid.uuid4().hex, "name": setup.names[action], "arguments": arguments}
    response = await tenant.api.post(
        f"/api/v1/bots/{setup.bot_id}/tool-calls", json={"toolCalls": [call]}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    assert len(result["content"]) <= 600
    return result


def _book(day: date, hhmm: str, **extra: Any) -> dict[str, Any]:
    return {
        "start": f"{day.isoformat()}T{hhmm}",
        "attendeeName": "Maria Silva",
        "attendeeEmail": "maria@example.com",
        **extra,
    }


def _events(sandbox: SandboxServer, setup: Setup, *, live: bool = True) -> list[dict[str, Any]]:
    """The events of the setup's calendar in the sandbox (only not-cancelled ones if `live`)."""
    events = sandbox.google.calendars[setup.account.email].events.values()
    return [e for e in events if not live or e.get("status") != "cancelled"]


def _start(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"])


def _end(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["end"]["dateTime"])


@pytest.fixture
async def google(sandbox: SandboxServer) -> AsyncIterator[GoogleCalendarClient]:
    """A client reaching the sandbox directly, as anyone else using the calendar would."""
    client = google_client(sandbox)
    yield client
    await client.aclose()


# ---------------------------------------------------------------------- availability


async def test_availability_lists_the_working_hours_slots_speakably_and_in_full(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=MORNING)
    monday = next_monday()
    result = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})
    assert result["ok"] is True, result
    assert starts(result) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    first = result["data"]["slots"][0]
    assert first == {
        "start": f"{monday}T09:00:00-03:00",
        "end": f"{monday}T09:30:00-03:00",
        "startUtc": f"{monday}T12:00:00Z",
        "endUtc": f"{monday}T12:30:00Z",
    }
    assert result["data"]["timeZone"] == "America/Sao_Paulo"
    assert result["data"]["durationMinutes"] == 30
    content = result["content"]
    assert "Monday" in content
    assert "UTC-03:00" in content
    assert "09:00" in content
    assert "11:30" in content
    assert "12:00" not in content


async def test_availability_offers_no_time_outside_the_working_days(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=MORNING)
    tuesday = next_monday() + timedelta(days=1)
    result = await _call(tenant, setup, "check_availability", {"startDate": tuesday.isoformat()})
    assert result["ok"] is True
    assert result["data"]["slots"] == []
    assert result["content"].startswith("No free 30-minute times")


async def test_availability_with_a_longer_duration_keeps_every_slot_inside_the_hours(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=MORNING)
    result = await _call(
        tenant,
        setup,
        "check_availability",
        {"startDate": next_monday().isoformat(), "durationMinutes": 60},
    )
    assert starts(result) == ["09:00", "09:30", "10:00", "10:30", "11:00"]
    assert all(s["end"][11:16] <= "12:00" for s in result["data"]["slots"])
    assert result["data"]["durationMinutes"] == 60
    assert "60-minute" in result["content"]


async def test_availability_is_written_in_the_callers_time_zone(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=MORNING)
    monday = next_monday()
    result = await _call(
        tenant,
        setup,
        "check_availability",
        {"startDate": f"{monday}T00:00-03:00", "timeZone": "America/New_York"},
    )
    first = datetime.fromisoformat(result["data"]["slots"][0]["start"])
    assert first == local(monday, "09:00")
    assert first.utcoffset() == local(monday, "09:00", NEW_YORK).utcoffset()
    offset = local(monday, "12:00", NEW_YORK).strftime("%z")
    assert f"UTC{offset[:3]}:{offset[3:]}" in result["content"]
    assert result["data"]["timeZone"] == "America/New_York"


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        (0, ["09:00", "09:30", "10:30", "11:00", "11:30"]),
        (15, ["09:00", "11:00", "11:30"]),
    ],
)
async def test_availability_leaves_out_an_existing_event_and_its_buffer(
    tenant: Tenant,
    sandbox: SandboxServer,
    google: GoogleCalendarClient,
    buffer: int,
    expected: list[str],
) -> None:
    setup = await _function(tenant, sandbox, workingHours=MORNING, bufferMinutes=buffer)
    monday = next_monday()
    await google.insert_event(
        setup.account.access_token, setup.account.email, meeting(local(monday, "10:00"))
    )
    result = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})
    assert starts(result) == expected


async def test_availability_respects_the_minimum_notice(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=ALL_DAY, minNoticeMinutes=2880)
    today = datetime.now(SAO_PAULO).date()
    before = datetime.now(UTC)
    result = await _call(
        tenant,
        setup,
        "check_availability",
        {"startDate": today.isoformat(), "endDate": (today + timedelta(days=3)).isoformat()},
    )
    after = datetime.now(UTC)
    first = datetime.fromisoformat(result["data"]["slots"][0]["startUtc"])
    # The first start on the half-hour grid at or after now + 48 h, and none sooner.
    assert before + timedelta(hours=48) <= first
    assert first < after + timedelta(hours=48, minutes=30)


async def test_a_booking_inside_the_minimum_notice_is_refused(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, workingHours=ALL_DAY, minNoticeMinutes=2880)
    soon = (datetime.now(UTC) + timedelta(hours=47)).astimezone(SAO_PAULO)
    result = await _call(
        tenant, setup, "create_booking", _book(soon.date(), soon.strftime("%H:%M"))
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "invalid_datetime"
    assert "too soon" in result["content"]
    assert "2880 minutes' notice" in result["content"]
    assert _events(sandbox, setup) == []


async def test_availability_beyond_the_horizon_says_until_when_bookings_are_open(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, horizonDays=1)
    later = datetime.now(SAO_PAULO).date() + timedelta(days=10)
    result = await _call(tenant, setup, "check_availability", {"startDate": later.isoformat()})
    assert result["ok"] is True
    assert result["data"]["slots"] == []
    assert "Bookings are open until" in result["content"]


# ------------------------------------------------------------------------- booking


@pytest.mark.parametrize("meet", [False, True])
async def test_create_booking_makes_the_event_with_the_attendee_and_a_meet_link_when_on(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI, meet: bool
) -> None:
    setup = await _function(tenant, sandbox, createMeetLink=meet)
    monday = next_monday()
    result = await _call(
        tenant,
        setup,
        "create_booking",
        _book(monday, "10:00", notes="first visit", attendeePhone="+5511987654321"),
    )
    assert result["ok"] is True, result
    event_id = result["data"]["bookingId"]

    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        listed = await http.get(
            "/sandbox/google/events", params={"calendarId": setup.account.email}
        )
    (event,) = listed.json()["items"]
    assert event["id"] == event_id
    assert event["status"] == "confirmed"
    assert event["summary"] == "Dr Ana with Maria Silva"
    assert {"email": "maria@example.com", "displayName": "Maria Silva"}.items() <= (
        event["attendees"][0].items()
    )
    assert "first visit" in event["description"]
    assert "+5511987654321" in event["description"]
    assert _start(event) == local(monday, "10:00")
    assert _end(event) == local(monday, "10:30")
    assert [(u.action, u.send_updates) for u in sandbox.google.updates_sent] == [("insert", "all")]

    content = result["content"]
    assert event_id in content
    assert f"Monday {monday.day}" in content
    assert "10:00 to 10:30 (UTC-03:00)" in content
    if meet:
        link = event["conferenceData"]["entryPoints"][0]["uri"]
        assert link.startswith("https://meet.google.com/")
        assert result["data"]["meetLink"] == link
        assert link in content
    else:
        assert "conferenceData" not in event
        assert "meetLink" not in result["data"]
        assert "meet.google.com" not in content
    async with app.state.sessionmaker() as session:
        record = await session.scalar(select(ToolCallRecord))
    assert record is not None
    assert record.provider_booking_id == event_id


async def test_title_and_duration_shape_the_event(tenant: Tenant, sandbox: SandboxServer) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    result = await _call(
        tenant,
        setup,
        "create_booking",
        _book(monday, "14:00", title="Dental check-up", durationMinutes=60),
    )
    assert result["ok"] is True, result
    (event,) = _events(sandbox, setup)
    assert event["summary"] == "Dental check-up"
    assert _end(event) - _start(event) == timedelta(minutes=60)
    assert result["data"]["durationMinutes"] == 60
    assert "14:00 to 15:00" in result["content"]


async def test_a_taken_slot_answers_slot_unavailable_with_the_five_nearest_free_times(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    first = await _call(tenant, setup, "create_booking", _book(monday, "11:00"))
    assert first["ok"] is True
    second = await _call(tenant, setup, "create_booking", _book(monday, "11:00"))
    assert second["ok"] is False
    assert second["error"]["code"] == "slot_unavailable"
    assert second["error"]["retryable"] is False
    alternatives = [a["start"][11:16] for a in second["data"]["alternatives"]]
    assert alternatives == ["09:30", "10:00", "10:30", "11:30", "12:00"]
    assert "is not free" in second["content"]
    assert "10:30, 11:30" in second["content"]
    assert len(_events(sandbox, setup)) == 1


async def test_an_event_made_outside_agentcal_is_seen_by_the_re_check(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    await google.insert_event(
        setup.account.access_token, setup.account.email, meeting(local(monday, "15:00"), 60)
    )
    result = await _call(tenant, setup, "create_booking", _book(monday, "15:30"))
    assert result["error"]["code"] == "slot_unavailable"
    alternatives = [a["start"][11:16] for a in result["data"]["alternatives"]]
    assert alternatives == ["14:00", "14:30", "16:00", "16:30", "17:00"]
    assert len(_events(sandbox, setup)) == 1


@pytest.mark.parametrize(
    ("hhmm", "minutes"),
    [("10:10", 30), ("19:00", 30), ("17:30", 60)],
    ids=["off-the-grid", "after-hours", "running-past-the-hours"],
)
async def test_a_start_that_is_no_bookable_time_is_refused_with_alternatives(
    tenant: Tenant, sandbox: SandboxServer, hhmm: str, minutes: int
) -> None:
    setup = await _function(tenant, sandbox)
    result = await _call(
        tenant, setup, "create_booking", _book(next_monday(), hhmm, durationMinutes=minutes)
    )
    assert result["error"]["code"] == "slot_unavailable"
    assert "not a time that can be booked" in result["content"]
    assert 1 <= len(result["data"]["alternatives"]) <= 5
    assert _events(sandbox, setup) == []


async def test_google_itself_accepts_overlapping_events(
    sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    """The control of the race test below: only agentcal's lock prevents double bookings."""
    account = await new_account(sandbox)
    start = local(next_monday(), "14:00")
    first = await google.insert_event(account.access_token, account.email, meeting(start))
    second = await google.insert_event(account.access_token, account.email, meeting(start))
    assert first.id != second.id
    events = sandbox.google.calendars[account.email].events.values()
    assert [e["status"] for e in events] == ["confirmed", "confirmed"]


async def test_fifty_concurrent_bookings_of_one_slot_give_one_booking(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    args = _book(next_monday(), "14:00")
    # A slow freeBusy keeps every call inside its re-check long enough to overlap the
    # others: without the calendar lock, several see the slot free and book it.
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/google/calendar/v3/freeBusy", latency_ms=40, times=-1)
    )
    clients = [tenant.client() for _ in range(50)]
    responses = await asyncio.gather(
        *(
            c.post(
                f"/api/v1/bots/{setup.bot_id}/tool-calls",
                json={
                    "toolCalls": [
                        {
                            "id": f"race-{i}",
                            "name": setup.names["create_booking"],
                            "arguments": args,
                        }
                    ]
                },
            )
            for i, c in enumerate(clients)
        )
    )
    for c in clients:
        await c.aclose()
    results = [r.json()["results"][0] for r in responses]
    assert sum(r["ok"] for r in results) == 1
    assert sum(r.get("error", {}).get("code") == "slot_unavailable" for r in results) == 49
    assert len(_events(sandbox, setup)) == 1


async def test_a_repeated_call_id_replays_without_inserting_twice(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    args = _book(next_monday(), "15:00")
    first = await _call(tenant, setup, "create_booking", args, call_id="same-id")
    second = await _call(tenant, setup, "create_booking", args, call_id="same-id")
    assert first["ok"] is True
    assert second == first
    assert len(_events(sandbox, setup)) == 1
    assert [u.action for u in sandbox.google.updates_sent] == ["insert"]


async def _expire_key(app: FastAPI, setup: Setup, call_id: str) -> None:
    """The key's 24 h are over: the call id may be used again for a new call."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.scope == f"bot:{setup.bot_id}", IdempotencyRecord.key == call_id
            )
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_event_ids_derived_from_keys_are_stable_and_valid_for_google() -> None:
    ids = [event_id_for(f"bot:{uuid.uuid4()}:call_{i}") for i in range(50)]
    assert len(set(ids)) == 50
    for event_id in ids:
        assert 5 <= len(event_id) <= 1024
        assert set(event_id) <= set("0123456789abcdefghijklmnopqrstuv")
    assert event_id_for("bot:x:call_1") == event_id_for("bot:x:call_1")
    assert event_id_for("bot:x:call_1") != event_id_for("bot:y:call_1")


async def test_a_booking_made_by_a_call_with_an_id_is_named_after_its_key(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    result = await _call(
        tenant, setup, "create_booking", _book(next_monday(), "09:00"), call_id="call_named"
    )
    assert result["ok"] is True, result
    assert result["data"]["bookingId"] == event_id_for(f"bot:{setup.bot_id}:call_named")
    (event,) = _events(sandbox, setup)
    assert event["id"] == result["data"]["bookingId"]


@pytest.mark.parametrize("meet", [False, True])
async def test_a_booking_repeated_after_its_process_died_answers_the_event_it_made(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI, meet: bool
) -> None:
    """The re-check would see the dead call's own event and answer slot_unavailable; a
    second insert would book twice. The repeat finds the event under the call's id."""
    setup = await _function(tenant, sandbox, createMeetLink=meet)
    args = _book(next_monday(), "15:00")
    first = await _call(tenant, setup, "create_booking", args, call_id="crashed")
    assert first["ok"] is True, first
    await die_before_storing(app, setup.bot_id, "crashed")

    again = await _call(tenant, setup, "create_booking", args, call_id="crashed")
    assert again["ok"] is True, again
    assert again == first
    assert len(_events(sandbox, setup, live=False)) == 1
    assert [u.action for u in sandbox.google.updates_sent] == ["insert"]


async def test_a_booking_whose_claim_was_released_finds_its_own_event(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """A first run that booked but lost its key (released on a cancellation, or a race
    between repeats taking over) leaves a repeat that is not marked resumed: its
    re-check sees the slot taken by the event it made itself, and answers from it."""
    setup = await _function(tenant, sandbox)
    args = _book(next_monday(), "16:00")
    first = await _call(tenant, setup, "create_booking", args, call_id="released")
    async with app.state.sessionmaker.begin() as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == "released"))
    again = await _call(tenant, setup, "create_booking", args, call_id="released")
    assert again["ok"] is True, again
    assert again["data"]["bookingId"] == first["data"]["bookingId"]
    assert len(_events(sandbox, setup, live=False)) == 1


async def test_a_booking_whose_process_died_before_google_made_it_is_made_by_the_repeat(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    setup = await _function(tenant, sandbox)
    args = _book(next_monday(), "15:00")
    first = await _call(tenant, setup, "create_booking", args, call_id="crashed-early")
    sandbox.google.clear_events()  # as if the insert never reached Google
    await die_before_storing(app, setup.bot_id, "crashed-early")

    again = await _call(tenant, setup, "create_booking", args, call_id="crashed-early")
    assert again["ok"] is True, again
    assert again["data"]["bookingId"] == first["data"]["bookingId"]
    (event,) = _events(sandbox, setup)
    assert event["id"] == first["data"]["bookingId"]


@pytest.mark.parametrize("then", ["cancelled", "moved"])
async def test_a_call_id_used_again_after_its_key_expired_books_anew(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI, then: str
) -> None:
    """Its derived event id names the old booking, since cancelled or moved; Google
    answers 409 to that id, and the new booking must not be the old event."""
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    args = _book(monday, "10:00")
    old = await _call(tenant, setup, "create_booking", args, call_id="call_1")
    old_id = old["data"]["bookingId"]
    if then == "cancelled":
        done = await _call(tenant, setup, "cancel_booking", {"bookingId": old_id})
    else:
        done = await _call(
            tenant,
            setup,
            "reschedule_booking",
            {"bookingId": old_id, "newStart": f"{monday}T11:00"},
        )
    assert done["ok"] is True, done
    await _expire_key(app, setup, "call_1")

    new = await _call(tenant, setup, "create_booking", args, call_id="call_1")
    assert new["ok"] is True, new
    assert new["data"]["bookingId"] != old_id
    assert new["data"]["status"] == "confirmed"
    booked = next(e for e in _events(sandbox, setup) if e["id"] == new["data"]["bookingId"])
    assert _start(booked) == local(monday, "10:00")


@pytest.fixture
def lock_watch(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the calendar lock was held at each Google token refresh, in order."""
    held, refreshes = [False], []
    take_lock = google_actions.calendar_lock
    refresh = GoogleCalendarClient.refresh_access_token

    @asynccontextmanager
    async def watched_lock(*args: Any) -> AsyncIterator[None]:
        async with take_lock(*args):
            held[0] = True
            try:
                yield
            finally:
                held[0] = False

    async def watched_refresh(self: GoogleCalendarClient, refresh_token: str) -> Any:
        refreshes.append(held[0])
        return await refresh(self, refresh_token)

    monkeypatch.setattr(google_actions, "calendar_lock", watched_lock)
    monkeypatch.setattr(GoogleCalendarClient, "refresh_access_token", watched_refresh)
    return refreshes


async def test_a_token_due_for_refresh_is_refreshed_before_the_calendar_lock(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI, lock_watch: list[bool]
) -> None:
    """On PostgreSQL the lock holds a pooled connection; a refresh needs another one."""
    setup = await _function(tenant, sandbox)
    monday = next_monday()

    async def expire_token() -> None:
        async with app.state.sessionmaker.begin() as session:
            await session.execute(
                update(GoogleCalendarPlugin)
                .where(GoogleCalendarPlugin.function_id == uuid.UUID(setup.function_id))
                .values(access_token_expires_at=utcnow() - timedelta(minutes=1))
            )

    await expire_token()
    booked = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    assert booked["ok"] is True, booked
    assert lock_watch == [False]
    await expire_token()
    moved = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": booked["data"]["bookingId"], "newStart": f"{monday}T11:00"},
    )
    assert moved["ok"] is True, moved
    assert lock_watch == [False, False]


# ------------------------------------------------------------------ notifications


async def test_booking_changes_state_the_functions_notification_settings(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """Each result of a booking change carries the notification fields, and
    `waitForSpeechMs` tells a voice channel how long to wait before speaking."""
    setup = await _function(
        tenant,
        sandbox,
        notificationType="webhook",
        notificationContentType="json",
        notificationContent='{"text": "{{title}} with {{attendeeName}}"}',
        notificationTarget="https://hooks.example.com/agentcal",
        notificationDelayMs=250,
        notificationWaitForSpeech=1500,
    )
    monday = next_monday()
    expected = {"type": "webhook", "contentType": "json", "delayMs": 250, "waitForSpeechMs": 1500}
    booked = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    assert booked["notifications"] == [{"event": "booking.created", **expected}]
    booking = {"bookingId": booked["data"]["bookingId"]}
    moved = await _call(
        tenant, setup, "reschedule_booking", {**booking, "newStart": f"{monday}T11:00"}
    )
    assert moved["notifications"] == [{"event": "booking.rescheduled", **expected}]
    cancelled = await _call(tenant, setup, "cancel_booking", booking)
    assert cancelled["notifications"] == [{"event": "booking.cancelled", **expected}]
    # Nothing changes, nothing to notify.
    assert (await _call(tenant, setup, "cancel_booking", booking))["notifications"] == []
    free = await _call(tenant, setup, "check_availability", {"startDate": monday.isoformat()})
    assert free["notifications"] == []


async def test_a_function_without_notifications_states_none(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox, notificationWaitForSpeech=1500)
    booked = await _call(tenant, setup, "create_booking", _book(next_monday(), "10:00"))
    assert booked["ok"] is True
    assert booked["notifications"] == []


# ------------------------------------------------------------------- cancel, move


async def test_cancel_by_booking_id_deletes_the_event_and_frees_the_slot(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    booked = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    event_id = booked["data"]["bookingId"]

    result = await _call(
        tenant, setup, "cancel_booking", {"bookingId": event_id, "reason": "feeling better"}
    )
    assert result["ok"] is True, result
    assert result["data"]["status"] == "cancelled"
    assert result["data"]["reason"] == "feeling better"
    assert result["content"].startswith("Cancelled the booking of Monday")
    assert "10:00 to 10:30 (UTC-03:00)" in result["content"]
    assert _events(sandbox, setup) == []
    assert [(u.action, u.send_updates) for u in sandbox.google.updates_sent][-1] == (
        "delete",
        "all",
    )
    again = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    assert again["ok"] is True


async def test_cancelling_twice_says_it_was_already_cancelled(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    booked = await _call(tenant, setup, "create_booking", _book(next_monday(), "10:00"))
    args = {"bookingId": booked["data"]["bookingId"]}
    await _call(tenant, setup, "cancel_booking", args)
    again = await _call(tenant, setup, "cancel_booking", args)
    assert again["ok"] is True
    assert "already cancelled" in again["content"]
    assert [u.action for u in sandbox.google.updates_sent] == ["insert", "delete"]


async def test_cancel_by_attendee_email_and_start(tenant: Tenant, sandbox: SandboxServer) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    booked = await _call(tenant, setup, "create_booking", _book(monday, "16:00"))
    other = await _call(
        tenant,
        setup,
        "create_booking",
        {**_book(monday, "16:00"), "start": f"{monday}T17:00", "attendeeEmail": "jo@example.com"},
    )
    assert other["ok"] is True
    # The same instant written in UTC, and the address in other case: still Maria's.
    start_utc = local(monday, "16:00").astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = await _call(
        tenant,
        setup,
        "cancel_booking",
        {"attendeeEmail": "Maria@Example.com", "start": start_utc},
    )
    assert result["ok"] is True, result
    assert result["data"]["bookingId"] == booked["data"]["bookingId"]
    (left,) = _events(sandbox, setup)
    assert left["id"] == other["data"]["bookingId"]


async def test_cancel_by_attendee_at_a_wrong_start_names_their_bookings(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    await _call(tenant, setup, "create_booking", _book(monday, "16:00"))
    result = await _call(
        tenant,
        setup,
        "cancel_booking",
        {"attendeeEmail": "maria@example.com", "start": f"{monday}T15:00"},
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "booking_not_found"
    assert "That day their bookings start at" in result["content"]
    assert "16:00" in result["content"]
    assert len(_events(sandbox, setup)) == 1


async def test_cancel_by_attendee_with_two_matching_events_is_ambiguous(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    setup = await _function(tenant, sandbox)
    start = local(next_monday(), "09:00")
    attendees = [{"email": "maria@example.com", "display_name": "Maria Silva"}]
    for _ in range(2):  # Google accepts both; agentcal would never have booked the second
        await google.insert_event(
            setup.account.access_token,
            setup.account.email,
            meeting(start, attendees=attendees),
        )
    result = await _call(
        tenant,
        setup,
        "cancel_booking",
        {"attendeeEmail": "maria@example.com", "start": start.isoformat()},
    )
    assert result["error"]["code"] == "ambiguous_booking"
    assert "give the bookingId" in result["content"]
    assert len(result["data"]["bookings"]) == 2
    assert len(_events(sandbox, setup)) == 2


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({}, "invalid_arguments"),
        ({"attendeeEmail": "maria@example.com"}, "invalid_arguments"),
        ({"bookingId": "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"}, "booking_not_found"),
    ],
)
async def test_cancel_without_a_booking_to_find_is_a_tool_error(
    tenant: Tenant, sandbox: SandboxServer, arguments: dict[str, Any], code: str
) -> None:
    setup = await _function(tenant, sandbox)
    result = await _call(tenant, setup, "cancel_booking", arguments)
    assert result["ok"] is False
    assert result["error"]["code"] == code
    assert "bookingId" in result["content"]


async def test_reschedule_moves_the_event_keeping_its_length(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """60 minutes from 10:00 to 10:30: the new time overlaps the old one, which is no
    obstacle because it is the same booking."""
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    booked = await _call(
        tenant, setup, "create_booking", _book(monday, "10:00", durationMinutes=60)
    )
    event_id = booked["data"]["bookingId"]
    result = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": event_id, "newStart": f"{monday}T10:30", "reason": "traffic"},
    )
    assert result["ok"] is True, result
    (event,) = _events(sandbox, setup)
    assert event["id"] == event_id
    assert _start(event) == local(monday, "10:30")
    assert _end(event) == local(monday, "11:30")
    assert result["data"]["start"] == f"{monday}T10:30:00-03:00"
    assert result["data"]["previous"]["start"] == f"{monday}T10:00:00-03:00"
    assert "to Monday" in result["content"]
    assert "10:30 to 11:30 (UTC-03:00)" in result["content"]
    assert [(u.action, u.send_updates) for u in sandbox.google.updates_sent][-1] == (
        "patch",
        "all",
    )


async def test_a_move_repeated_after_its_process_died_changes_nothing_more(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """The first run moved the event and died before storing its result: the repeat
    finds the event where it was asked to go, says so, and sends no second update."""
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    booked = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    move = {"bookingId": booked["data"]["bookingId"], "newStart": f"{monday}T11:00"}
    first = await _call(tenant, setup, "reschedule_booking", move, call_id="move-crashed")
    assert first["ok"] is True, first
    await die_before_storing(app, setup.bot_id, "move-crashed")

    again = await _call(tenant, setup, "reschedule_booking", move, call_id="move-crashed")
    assert again["ok"] is True, again
    assert again["content"].startswith("The booking is already at Monday")
    assert "11:00 to 11:30 (UTC-03:00)" in again["content"]
    assert again["notifications"] == []
    assert [u.action for u in sandbox.google.updates_sent] == ["insert", "patch"]


async def test_reschedule_onto_a_taken_slot_is_refused_and_leaves_the_event(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    moving = await _call(tenant, setup, "create_booking", _book(monday, "10:00"))
    taken = await _call(tenant, setup, "create_booking", _book(monday, "14:00"))
    assert taken["ok"] is True
    result = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": moving["data"]["bookingId"], "newStart": f"{monday}T14:00"},
    )
    assert result["error"]["code"] == "slot_unavailable"
    alternatives = [a["start"][11:16] for a in result["data"]["alternatives"]]
    assert alternatives == ["12:30", "13:00", "13:30", "14:30", "15:00"]
    stored = next(e for e in _events(sandbox, setup) if e["id"] == moving["data"]["bookingId"])
    assert _start(stored) == local(monday, "10:00")


async def test_reschedule_still_sees_another_event_during_the_old_time(
    tenant: Tenant, sandbox: SandboxServer, google: GoogleCalendarClient
) -> None:
    """freeBusy merges the booking with an event overlapping it; taking the booking's
    own time out must not take that event out too."""
    setup = await _function(tenant, sandbox)
    monday = next_monday()
    booked = await _call(
        tenant, setup, "create_booking", _book(monday, "10:00", durationMinutes=60)
    )
    await google.insert_event(
        setup.account.access_token, setup.account.email, meeting(local(monday, "10:30"))
    )
    result = await _call(
        tenant,
        setup,
        "reschedule_booking",
        {"bookingId": booked["data"]["bookingId"], "newStart": f"{monday}T10:30"},
    )
    assert result["error"]["code"] == "slot_unavailable"
    stored = next(e for e in _events(sandbox, setup) if e["id"] == booked["data"]["bookingId"])
    assert _start(stored) == local(monday, "10:00")


# --------------------------------------------------------------------- credentials


async def test_expired_credentials_answer_calendar_auth_expired(
    tenant: Tenant, sandbox: SandboxServer, app: FastAPI
) -> None:
    """A revoked refresh token and an expired access token: only the integrator can help."""
    setup = await _function(tenant, sandbox)
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        revoked = await http.post(
            "/sandbox/google/revoke", json={"refreshToken": setup.account.refresh_token}
        )
    assert revoked.status_code == 204
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(GoogleCalendarPlugin)
            .where(GoogleCalendarPlugin.function_id == uuid.UUID(setup.function_id))
            .values(access_token_expires_at=utcnow() - timedelta(minutes=1))
        )

    for _ in range(2):
        result = await _call(
            tenant, setup, "check_availability", {"startDate": next_monday().isoformat()}
        )
        assert result["ok"] is False
        assert result["error"]["code"] == "calendar_auth_expired"
        assert result["error"]["retryable"] is False
        assert "googleToken" in result["content"]
        assert setup.account.refresh_token not in result["content"]
    # The second call did not ask Google again: the credentials are marked invalid.
    assert sandbox.google.token_requests[setup.account.refresh_token] == 1
    function = await tenant.api.get(f"/api/v1/functions/{setup.function_id}")
    assert function.json()["googleCalendarPlugin"][0]["credentialStatus"] == "invalid"
