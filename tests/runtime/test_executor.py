"""The executor under stress: long content, broken deployments, hang-ups, old keys."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.db.engine import utcnow
from agentcal.providers.base import ToolResult
from agentcal.providers.results import slots_content
from agentcal.runtime import catalog as catalogs
from agentcal.runtime import executor, idempotency
from agentcal.runtime.audit import CallRecord
from agentcal.runtime.executor import Call, Scope, execute
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom, call_tools
from tests.support import next_monday, wait_until


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
    bot_id, _, names = await bot_with_calcom(tenant)
    runtime = app.state.runtime
    object.__setattr__(runtime.services, "keyring", Keyring.from_text(generate_key()))  # lost
    try:
        check = {
            "id": "broken",
            "name": names["check_availability"],
            "arguments": {"startDate": str(next_monday())},
        }
        body = await call_tools(tenant, bot_id, check)
    finally:
        object.__setattr__(runtime.services, "keyring", app.state.keyring)
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
    bot_id, _, names = await bot_with_calcom(tenant)
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), latency_ms=300)
    )
    tools = await catalogs.bot_catalog(
        app.state.sessionmaker, uuid.UUID(tenant.institution_id), uuid.UUID(bot_id)
    )
    scope = Scope(uuid.UUID(tenant.institution_id), uuid.UUID(bot_id), f"bot:{bot_id}")
    call = Call(
        "hang-up",
        names["create_booking"],
        {
            "start": f"{next_monday()}T09:00",
            "attendeeName": "Hal",
            "attendeeEmail": "hal@example.com",
        },
    )
    caller = asyncio.create_task(execute(app.state.runtime, tools, scope, call))
    # The booking request is on its way: it reached the sandbox (and took the fault that
    # delays its answer), and the caller is still waiting for it.
    await wait_until(lambda: not sandbox.state.faults.rules)
    assert not caller.done()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    async def recorded() -> bool:  # the shielded call finishes on its own, and records
        async with app.state.sessionmaker() as session:
            outcome = await session.scalar(
                select(ToolCallRecord.outcome).where(ToolCallRecord.call_id == "hang-up")
            )
        return outcome is not None

    await wait_until(recorded)
    assert len(sandbox.calcom.bookings) == 1
    replay = await execute(app.state.runtime, tools, scope, call)  # the client retries
    assert replay.ok is True
    assert replay.data is not None
    assert replay.data["bookingId"] in sandbox.calcom.bookings
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

    async def purged() -> bool:
        async with sessions() as session:
            left = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
        return left == 0

    try:
        await wait_until(purged)
    finally:
        task.cancel()


# ------------------------------------------------------- the final write (audit + result)


_RESULT = ToolResult("x", True, "x", {})


def _record(tenant: Tenant, bot_id: uuid.UUID | None) -> CallRecord:
    return CallRecord(
        institution_id=uuid.UUID(tenant.institution_id),
        bot_id=bot_id,
        function_kind="calcom",
        function_id=uuid.uuid4(),
        action="create_booking",
        tool_name="create_booking_x",
        call_id="final-1",
        arguments_hash="h",
        outcome="ok",
        latency_ms=5,
        provider_booking_id="bk-1",
    )


async def _claimed(app: FastAPI, key: str) -> uuid.UUID:
    got = await idempotency.claim(app.state.engine, app.state.keyring, "bot:final", key, "h")
    assert got.record_id is not None
    return got.record_id


async def test_a_bot_deleted_meanwhile_does_not_lose_the_record_or_the_result(
    tenant: Tenant, app: FastAPI
) -> None:
    """Another replica deleted the bot while this one served its cached tools: the
    record keeps no bot (a foreign key would refuse it), the result is still stored."""
    claim_id = await _claimed(app, "gone-bot")
    record = _record(tenant, uuid.uuid4())  # a bot that does not exist
    await executor._finish(app.state.runtime, record, claim_id, _RESULT)
    async with app.state.sessionmaker() as session:
        stored = await session.get(ToolCallRecord, record.id)
        key = await session.get(IdempotencyRecord, claim_id)
    assert stored is not None
    assert stored.bot_id is None
    assert stored.provider_booking_id == "bk-1"
    assert key is not None
    assert key.state == "done"


async def test_a_briefly_failing_database_is_tried_again(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim_id = await _claimed(app, "busy-db")
    real, failures = executor.record_call, [0]

    async def busy_once(connection: Any, call: CallRecord) -> None:
        if not failures[0]:
            failures[0] += 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        await real(connection, call)

    monkeypatch.setattr(executor, "record_call", busy_once)
    record = _record(tenant, None)
    await executor._finish(app.state.runtime, record, claim_id, _RESULT)
    async with app.state.sessionmaker() as session:
        assert await session.get(ToolCallRecord, record.id) is not None
        key = await session.get(IdempotencyRecord, claim_id)
    assert failures == [1]
    assert key is not None
    assert key.state == "done"


async def test_a_result_that_cannot_be_recorded_is_answered_and_its_key_kept(
    tenant: Tenant, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider has acted: the caller gets the result; the key stays claimed, so a
    repeat waits and takes over as from a crashed process instead of booking at once."""
    claim_id = await _claimed(app, "down-db")

    async def down(connection: Any, call: CallRecord) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(executor, "record_call", down)
    await executor._finish(app.state.runtime, _record(tenant, None), claim_id, _RESULT)
    async with app.state.sessionmaker() as session:
        key = await session.get(IdempotencyRecord, claim_id)
    assert key is not None
    assert key.state == "running"
