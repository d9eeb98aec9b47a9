"""The audit trail of tool calls and their Prometheus counters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from prometheus_client import Counter, Histogram
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agentcal.db.engine import utcnow
from agentcal.runtime.models import ToolCallRecord

TOOL_CALLS = Counter(
    "agentcal_tool_calls_total", "Tool calls executed, by outcome", ["kind", "action", "outcome"]
)
TOOL_CALL_LATENCY = Histogram(
    "agentcal_tool_call_duration_seconds",
    "Tool call latency, provider included",
    ["kind", "action"],
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    institution_id: uuid.UUID
    bot_id: uuid.UUID | None
    function_kind: str
    function_id: uuid.UUID
    action: str
    tool_name: str
    call_id: str | None
    arguments_hash: str
    outcome: str
    latency_ms: int
    provider_booking_id: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=utcnow)


_RECORD = insert(cast(Table, ToolCallRecord.__table__))  # built once, as in `idempotency`


def count(call: CallRecord) -> None:
    """The call's Prometheus counters; once per call, after its record is written."""
    TOOL_CALLS.labels(call.function_kind, call.action, call.outcome).inc()
    TOOL_CALL_LATENCY.labels(call.function_kind, call.action).observe(call.latency_ms / 1000)


async def record_call(connection: AsyncConnection, call: CallRecord) -> None:
    """Write the record in the caller's transaction, which commits it with the call's
    idempotency result: one write per call, and a failed call is recorded too. Writing
    it again after a failed attempt is safe: its id is the record's own."""
    await connection.execute(
        _RECORD,
        {
            "id": call.id,
            "institution_id": call.institution_id,
            "bot_id": call.bot_id,
            "function_kind": call.function_kind,
            "function_id": call.function_id,
            "action": call.action,
            "tool_name": call.tool_name,
            "call_id": call.call_id,
            "arguments_hash": call.arguments_hash,
            "outcome": call.outcome,
            "latency_ms": call.latency_ms,
            "provider_booking_id": call.provider_booking_id,
            "created_at": call.created_at,
        },
    )
