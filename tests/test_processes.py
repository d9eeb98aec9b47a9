"""Booking safety across real `agentcal serve` processes on the suite's database.

* Two workers (`serve --workers 2`) on SQLite share one calendar lock (a file lock
  next to the database): 50 concurrent bookings of one slot make one booking.
* A server killed (SIGKILL) after the provider made a booking and before agentcal
  recorded it: after a restart, the repeat of the call takes the dead call's claim over
  within seconds (its lease lapses) and answers that same booking, on Cal.com and Google.

The servers are subprocesses talking to the suite's sandbox over a real socket; every
one of them is killed when its test ends, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.runtime.models import ToolCallRecord
from agentcal.sandbox.faults import Fault
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant, calcom_body
from tests.providers.calcom.support import calcom_user
from tests.providers.google_calendar.functions_support import link_google_function
from tests.support import free_port, next_monday, wait_until

# What the lease promises: a dead process's claim is taken over within this.
TAKEOVER_SECONDS = 10.0


@dataclass
class Server:
    """One `agentcal serve` (with its workers, in a process group of its own)."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Servers:
    """Starts `agentcal serve` processes on the suite's database and sandbox."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.directory = directory
        self.started: list[Server] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")} | {
            "AGENTCAL_DATABASE_URL": settings.resolved_database_url,
            "AGENTCAL_SECRET_KEYS": str(settings.secret_keys),
            "AGENTCAL_DATA_DIR": str(directory),
            "AGENTCAL_CALCOM_API_URL": settings.calcom_api_url,
            "AGENTCAL_GOOGLE_API_URL": settings.google_api_url,
            "AGENTCAL_GOOGLE_TOKEN_URL": settings.google_token_url,
            "AGENTCAL_GOOGLE_CLIENT_ID": str(settings.google_client_id),
            "AGENTCAL_GOOGLE_CLIENT_SECRET": str(settings.google_client_secret),
            # 50 calls of one bot at once are the point here, not a rate limit's 429s.
            "AGENTCAL_RATE_LIMIT_PER_BOT": "off",
            "AGENTCAL_RATE_LIMIT_PER_TOKEN": "off",
        }

    async def start(self, workers: int = 1) -> Server:
        """A server, once every one of its workers has started its app."""
        port = free_port()
        log = self.directory / f"serve-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "agentcal", "serve", "--port", str(port)]
                + ["--workers", str(workers)],
                # At INFO each worker says when its app has started.
                env=self.env | {"AGENTCAL_LOG_LEVEL": "INFO"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers too are killed with its group
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        self.started.append(server)

        async def ready() -> bool:
            assert process.poll() is None, server.output()[-4000:]
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(f"{server.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        def started() -> bool:
            assert process.poll() is None, server.output()[-4000:]
            return server.output().count("Application startup complete") == workers

        # Connections queue on the shared socket until a worker takes them: a worker
        # still starting would take its share late, long after the others' calls ran.
        await wait_until(started, timeout=30, interval=0.05)
        await wait_until(ready, timeout=10, interval=0.05)
        return server

    def kill(self, server: Server) -> None:
        """SIGKILL: the server and its workers die on the spot, nothing cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)

    def kill_all(self) -> None:
        for server in self.started:
            self.kill(server)


@pytest.fixture
async def servers(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Servers]:
    """`engine` has migrated the database the servers use; they are all killed at the
    end, before the tables are emptied for the next test."""
    started = Servers(settings, tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


def _tool_names(tools: dict[str, Any], suffix: str) -> dict[str, str]:
    """The tools of one function in a bot's list, by action."""
    return {
        t["function"]["name"].removesuffix(suffix): t["function"]["name"]
        for t in tools["tools"]
        if t["function"]["name"].endswith(suffix)
    }


async def _google_function(
    tenant: Tenant, sandbox: SandboxServer, bot_id: str
) -> tuple[dict[str, str], str]:
    """A Google Calendar function "Dr Google" on a fresh sandbox account in the bot:
    (its tools by action, its calendar id)."""
    account, _ = await link_google_function(tenant, sandbox, bot_id, name="Dr Google")
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    return _tool_names(tools.json(), "_dr_google"), account.email


async def _bot(tenant: Tenant) -> str:
    bot = await tenant.api.post(
        "/api/v1/bots", json={"name": "Reception", "unitId": tenant.unit_id}
    )
    assert bot.status_code == 201, bot.text
    ident: str = bot.json()["id"]
    return ident


async def _google_events(sandbox: SandboxServer, calendar_id: str) -> list[dict[str, Any]]:
    """The calendar's live events, from the sandbox's own listing."""
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        listing = await client.get("/sandbox/google/events", params={"calendarId": calendar_id})
    assert listing.status_code == 200, listing.text
    return [e for e in listing.json()["items"] if e.get("status") != "cancelled"]


async def _calcom_bookings(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Every live Cal.com booking, from the sandbox's own listing."""
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        listing = await client.get("/sandbox/calcom/bookings")
    assert listing.status_code == 200, listing.text
    return [b for b in listing.json()["bookings"] if b["status"] == "accepted"]


def _booking(day: str, hhmm: str) -> dict[str, str]:
    return {"start": f"{day}T{hhmm}", "attendeeName": "Maria", "attendeeEmail": "maria@example.com"}


async def test_fifty_bookings_of_one_slot_across_two_workers_make_one(
    tenant: Tenant, sandbox: SandboxServer, servers: Servers, backend: str
) -> None:
    """Google stores overlapping events, so only agentcal's calendar lock keeps two
    workers' re-check-and-book apart. The answer to the first re-check (freeBusy: free) is
    held back a second, and calls arrive one by one meanwhile, so the other worker takes
    some of them while the first caller holds the calendar: without a lock the workers
    share, that worker's own re-check finds the slot still free, and both book."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's advisory lock is raced by tests/runtime/test_replicas.py")
    bot_id = await _bot(tenant)
    tools, calendar_id = await _google_function(tenant, sandbox, bot_id)
    server = await servers.start(workers=2)
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/google/calendar/v3/freeBusy", delay_after_ms=1000)
    )
    arguments = _booking(next_monday().isoformat(), "10:00")
    headers = {"Authorization": f"Bearer {tenant.token}"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def book(i: int) -> httpx.Response:
            await asyncio.sleep(i * 0.02)  # the i-th caller comes in 20 ms after the last
            call = {"id": f"race-{i}", "name": tools["create_booking"], "arguments": arguments}
            return await client.post(
                f"/api/v1/bots/{bot_id}/tool-calls", json={"toolCalls": [call]}
            )

        answers = await asyncio.gather(*(book(i) for i in range(50)))
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers][:3]
    results = [a.json()["results"][0] for a in answers]
    booked = [r for r in results if r["ok"]]
    assert len(booked) == 1, [r["content"] for r in booked]
    assert {r["error"]["code"] for r in results if not r["ok"]} == {"slot_unavailable"}
    events = await _google_events(sandbox, calendar_id)
    assert [e["id"] for e in events] == [booked[0]["data"]["bookingId"]]


async def _calcom_integration(
    tenant: Tenant, sandbox: SandboxServer, bot_id: str
) -> dict[str, str]:
    """A Cal.com integration "Dr Cal" of a fresh sandbox user in the bot: its tools."""
    user = await calcom_user(sandbox, [("30min", 30)])
    body = calcom_body(
        tenant.unit_id,
        title="Dr Cal",
        apiKey=user["apiKey"],
        calcomUsername=user["username"],
        botId=bot_id,
        defaultEventTypeSlug="30min",
    )
    created = await tenant.api.post("/api/v1/calcom/integration", json=body)
    assert created.status_code == 201, created.text
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    return _tool_names(tools.json(), "_dr_cal")


async def test_a_server_killed_after_the_providers_booked_is_answered_after_a_restart(
    tenant: Tenant, sandbox: SandboxServer, servers: Servers, app: FastAPI
) -> None:
    """The worst moment: Cal.com and Google have made the bookings, agentcal has not
    recorded them, and the server dies (SIGKILL). Restarted, the repeat of the calls
    waits for the dead claims' leases to lapse (not a minute), takes them over, and
    finds each booking by its call (Cal.com: the metadata; Google: the event id): the
    answers are the bookings, and each provider holds one."""
    bot_id = await _bot(tenant)
    calcom_tools = await _calcom_integration(tenant, sandbox, bot_id)
    google_tools, calendar_id = await _google_function(tenant, sandbox, bot_id)
    day = next_monday().isoformat()
    calls = {
        "toolCalls": [
            {
                "id": "crash-cal",
                "name": calcom_tools["create_booking"],
                "arguments": _booking(day, "10:00"),
            },
            {
                "id": "crash-google",
                "name": google_tools["create_booking"],
                "arguments": _booking(day, "11:00"),
            },
        ]
    }
    headers = {"Authorization": f"Bearer {tenant.token}"}
    server = await servers.start()
    # Each provider makes its booking at once, and holds its answer back.
    for prefix in ("/calcom/v2/bookings", "/google/calendar/v3/calendars/"):
        sandbox.state.faults.rules.append(
            Fault(path_prefix=prefix, methods=frozenset({"POST"}), delay_after_ms=30_000)
        )

    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
        doomed = asyncio.create_task(client.post(f"/api/v1/bots/{bot_id}/tool-calls", json=calls))

        async def both_booked() -> bool:
            if doomed.done():  # answered: something failed before the providers booked
                raise AssertionError((await doomed).text + server.output()[-4000:])
            return bool(
                await _calcom_bookings(sandbox) and await _google_events(sandbox, calendar_id)
            )

        await wait_until(both_booked, timeout=30, interval=0.02)
        servers.kill(server)
        killed = time.monotonic()
        with pytest.raises(httpx.TransportError):
            await doomed

    restarted = await servers.start()
    async with httpx.AsyncClient(base_url=restarted.url, headers=headers, timeout=60) as client:
        repeat = await client.post(f"/api/v1/bots/{bot_id}/tool-calls", json=calls)
    answered = time.monotonic() - killed

    assert repeat.status_code == 200, repeat.text
    calcom_result, google_result = repeat.json()["results"]
    (calcom_booking,) = await _calcom_bookings(sandbox)
    (google_event,) = await _google_events(sandbox, calendar_id)
    assert calcom_result["ok"] is True, calcom_result
    assert calcom_result["data"]["bookingId"] == calcom_booking["uid"]
    assert google_result["ok"] is True, google_result
    assert google_result["data"]["bookingId"] == google_event["id"]
    assert answered < TAKEOVER_SECONDS, f"answered {answered:.1f} s after the kill"
    async with app.state.sessionmaker() as session:  # recorded once: by the repeat
        records = await session.execute(
            select(ToolCallRecord.call_id, ToolCallRecord.provider_booking_id).where(
                ToolCallRecord.bot_id == uuid.UUID(bot_id)
            )
        )
        assert sorted(tuple(record) for record in records) == [
            ("crash-cal", calcom_booking["uid"]),
            ("crash-google", google_event["id"]),
        ]
