"""The executor under stress: long content, broken deployments, hang-ups, old keys."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import func, select, update

from agentcal.crypto import Keyring, generate_key
from agentcal.database import utcnow
from agentcal.runtime import catalog as catalogs
from agentcal.runtime import idempotency
from agentcal.runtime.actions.common import slots_content
from agentcal.runtime.executor import Call, Scope, execute
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.runtime.test_tool_calls_calcom import _bot_with_calcom, _call, next_monday


def test_content_lists_fewer_times_rather_than_passing_600_characters() -> None:
    tz = ZoneInfo("America/Sao_Paulo")
    start = datetime(2026, 11, 23, 12, tzinfo=UTC)
    slots = [(start + timedelta(days=d), start + timedelta(days=d, minutes=30)) for d in range(20)]
    text = slots_content("Dr Ana Beatriz de Souza e Silva", slots, tz, start, start, 30)
    assert len(text) <= 600
    assert text.endswith("more.")  # the unlisted times are counted, not cut off


async def test_a_broken_deployment_is_an_audited_tool_error_not_a_500(
    tenant: Tenant, app: FastAPI
) -> None:
    bot_id, _, names = await _bot_with_calcom(tenant)
    runtime = app.state.runtime
    object.__setattr__(runtime, "keyring", Keyring.from_text(generate_key()))  # key dropped
    try:
        check = {"id": "broken", "name": names["check_availability"],
                 "arguments": {"startDate": str(next_monday())}}  # fmt: skip
        body = await _call(tenant, bot_id, check)
    finally:
        object.__setattr__(runtime, "keyring", app.state.keyring)
    result = body["results"][0]
    assert result["ok"] is False
    assert result["error"]["code"] == "internal_error"
    assert result["error"]["retryable"] is True
    async with app.state.sessionmaker() as session:
        outcome = await session.scalar(
            select(ToolCallRecord.outcome).where(ToolCallRecord.call_id == "broken")
        )
    assert outcome == "internal_error"


async def test_a_caller_hanging_up_mid_booking_leaves_it_finished_and_replayable(
    tenant: Tenant, app: FastAPI, sandbox: SandboxServer
) -> None:
    bot_id, _, names = await _bot_with_calcom(tenant)
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), latency_ms=300)
    )
    async with app.state.sessionmaker() as session:
        tools = await catalogs.bot_catalog(
            session, uuid.UUID(tenant.institution_id), uuid.UUID(bot_id)
        )
    scope = Scope(uuid.UUID(tenant.institution_id), uuid.UUID(bot_id), f"bot:{bot_id}")
    call = Call("hang-up", names["create_booking"],
                {"start": f"{next_monday()}T09:00", "attendeeName": "Hal",
                 "attendeeEmail": "hal@example.com"})  # fmt: skip
    caller = asyncio.create_task(execute(app.state.runtime, tools, scope, call))
    await asyncio.sleep(0.15)  # the booking request is on its way
    caller.cancel()
    await asyncio.sleep(0.6)  # the shielded call finishes on its own
    assert len(sandbox.calcom.bookings) == 1
    replay = await execute(app.state.runtime, tools, scope, call)  # the client retries
    assert replay["ok"] is True
    assert replay["data"]["bookingId"] in sandbox.calcom.bookings
    assert len(sandbox.calcom.bookings) == 1


async def test_the_purge_task_deletes_expired_keys(app: FastAPI) -> None:
    sessions, engine, keyring = app.state.sessionmaker, app.state.engine, app.state.keyring
    got = await idempotency.claim(engine, keyring, "bot:p", "old", "h")
    assert got.record_id is not None
    async with engine.begin() as connection:
        await idempotency.complete(connection, keyring, got.record_id, {"ok": True})
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    task = asyncio.create_task(idempotency.purge_forever(engine, every=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert left == 0
