"""Running tool calls (SPEC §4.2–4.5): resolve, claim the key, act, record, answer.

A call's life:
1. its tool is resolved in the catalog (unknown → `unknown_tool`; switched off or
   inactive → `tool_disabled`) and its arguments decoded (→ `invalid_arguments`);
2. with an id, the idempotency key is claimed: a repeat replays the stored result and
   never reaches the provider again (different arguments → HTTP 409);
3. the provider action runs inside one 15 s budget (`retries.call_budget`);
4. every outcome, failures included, becomes a `ToolResult` and an audit record.

Failures of the tool itself (slot taken, credentials expired, bad date) are results
with `ok: false`; only the caller's own mistakes are HTTP errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.crypto.keyring import Keyring
from agentcal.db.caches import Memo
from agentcal.db.locks import KeyedLocks
from agentcal.errors import AgentcalError
from agentcal.providers import http as retries
from agentcal.providers.calcom.client import CalcomClient, EventType
from agentcal.providers.google_calendar.client import GoogleCalendarClient
from agentcal.runtime import audit, idempotency
from agentcal.runtime.audit import CallRecord, record_call
from agentcal.runtime.catalog import Action, Catalog, FunctionKind, ToolSpec

log = structlog.get_logger("agentcal.runtime")

CALL_BUDGET = 15.0  # SPEC §5.3: a tool call gives up after 15 s overall
MAX_CONTENT = 600  # SPEC §4.2
# Codes where the same call may well succeed later; a model may try again.
RETRYABLE_CODES = frozenset({"rate_limited", "upstream_unavailable"})


@dataclass(frozen=True, slots=True)
class Runtime:
    """What actions need, owned by the app: database, keys, provider clients, locks."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: Keyring
    calcom: CalcomClient
    google: GoogleCalendarClient
    calendar_locks: KeyedLocks = field(default_factory=KeyedLocks)
    # A Cal.com user's event types by (API key hash, username); see `event_types_memo`.
    event_types: Memo[tuple[str, str], list[EventType]] = field(
        default_factory=lambda: event_types_memo(0)
    )
    # One fetch of a user's event types at a time: concurrent calls on a cold cache wait
    # for the first one's answer instead of each asking Cal.com.
    event_type_fetches: KeyedLocks = field(default_factory=KeyedLocks)


# Event types change in Cal.com, out of agentcal's sight, and rarely: a minute's
# delay is the price of not fetching them before every availability check.
EVENT_TYPES_SECONDS = 60.0


def event_types_memo(cache_seconds: float) -> Memo[tuple[str, str], list[EventType]]:
    """Off when caching is off (`AGENTCAL_CACHE_SECONDS=0`)."""
    return Memo((), ttl=EVENT_TYPES_SECONDS if cache_seconds > 0 else 0)


@dataclass(slots=True)
class Outcome:
    """What an action produced: a sentence for the model, and the full data."""

    content: str
    data: dict[str, Any]
    booking_id: str | None = None  # for the audit record
    # What the function's notification settings say about this change (SPEC §4.6).
    notifications: list[dict[str, Any]] = field(default_factory=list)


class ToolFailure(Exception):
    """A tool-level failure an action raises directly (beyond provider errors)."""

    def __init__(
        self, code: str, message: str, *, data: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable


# Errors without a tool code (e.g. a function deleted mid-call), by their HTTP status.
_CODE_BY_STATUS = {404: "not_found", 409: "conflict", 422: "invalid_request", 503: "unavailable"}


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a handler may need to know about the call beyond its arguments."""

    # Unique per call and stable across its repeats ("<scope>:<call id>"); None for a
    # call without an id. Providers that accept client-chosen ids derive them from it.
    key: str | None = None
    # The key was taken over from a process that died mid-call: this call's effects
    # (an event it created) may already exist and must be looked for, not repeated.
    resumed: bool = False


Handler = Callable[[Runtime, ToolSpec, dict[str, Any], CallContext], Awaitable[Outcome]]
HANDLERS: dict[tuple[FunctionKind, Action], Handler] = {}


def handles(kind: FunctionKind, action: Action) -> Callable[[Handler], Handler]:
    """Register the handler of one provider action."""

    def register(handler: Handler) -> Handler:
        HANDLERS[(kind, action)] = handler
        return handler

    return register


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call as the caller sent it."""

    id: str | None
    name: str
    arguments: Any  # an object, or a JSON string of one


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose call it is: the institution, the bot (if any), and the idempotency scope."""

    institution_id: uuid.UUID
    bot_id: uuid.UUID | None
    idempotency_scope: str


def _short(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1].rstrip() + "…"


def _result(call: Call, ok: bool, content: str, payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"toolCallId": call.id, "ok": ok, "content": _short(content)}
    result.update(payload)
    result.setdefault("notifications", [])
    return result


def _failure(call: Call, code: str, message: str, *, retryable: bool | None = None,
             data: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "retryable": code in RETRYABLE_CODES if retryable is None else retryable,
    }
    payload: dict[str, Any] = {"error": error}
    if data:  # facts to act on, e.g. `alternatives` for a taken slot (SPEC §4.5)
        payload["data"] = data
    return _result(call, False, message, payload)


def decode_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object: OpenAI sends them as a JSON string."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise ToolFailure("invalid_arguments", "the arguments are not valid JSON") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ToolFailure("invalid_arguments", "the arguments must be a JSON object")
    # OpenAI strict mode sends every optional argument, as null when unused.
    return {k: v for k, v in raw.items() if v is not None}


async def execute(runtime: Runtime, catalog: Catalog, scope: Scope, call: Call) -> dict[str, Any]:
    """Run one call and answer its result (SPEC §4.2). Never raises for tool failures;
    raises `IdempotencyConflict` (HTTP 409) for a reused key with other arguments.

    The call runs in a task of its own, shielded from the caller's cancellation: once a
    booking has started, a client that hangs up must not leave it half done (booked
    but unrecorded, its key released so that a retry books again). The result is then
    stored for the retry to replay.
    """
    task = asyncio.ensure_future(_execute(runtime, catalog, scope, call))
    return await asyncio.shield(task)


async def _execute(runtime: Runtime, catalog: Catalog, scope: Scope, call: Call) -> dict[str, Any]:
    spec = catalog.resolve(call.name)
    if spec is None:
        names = ", ".join(t.name for t in catalog.offered()) or "none"
        return _failure(call, "unknown_tool", f"there is no tool {call.name!r}; tools: {names}")
    try:
        arguments = decode_arguments(call.arguments)
    except ToolFailure as failure:
        return _failure(call, failure.code, failure.message)
    args_hash, older_hashes = idempotency.fingerprints(runtime.keyring, call.name, arguments)

    claim = None
    if call.id:
        claim = await idempotency.claim(
            runtime.engine, runtime.keyring, scope.idempotency_scope, call.id, args_hash,
            also_matching=older_hashes,
        )  # fmt: skip
        if claim.replay is not None:
            return {**claim.replay, "toolCallId": call.id}
    context = CallContext(
        key=f"{scope.idempotency_scope}:{call.id}" if call.id else None,
        resumed=claim is not None and claim.resumed,
    )
    started = time.perf_counter()
    try:
        result, outcome_code, booking_id = await _run(runtime, spec, call, arguments, context)
    except BaseException:
        if claim is not None and claim.record_id is not None:
            await idempotency.release(runtime.engine, claim.record_id)
        raise
    record = CallRecord(
        institution_id=scope.institution_id,
        bot_id=scope.bot_id,
        function_kind=spec.kind.value,
        function_id=spec.function_id,
        action=spec.action.value,
        tool_name=spec.name,
        call_id=call.id,
        arguments_hash=args_hash,
        outcome=outcome_code,
        latency_ms=int((time.perf_counter() - started) * 1000),
        provider_booking_id=booking_id,
    )
    await _finish(runtime, record, claim.record_id if claim else None, result)
    return result


FINISH_ATTEMPTS = 3


async def _finish(
    runtime: Runtime, record: CallRecord, claim_id: uuid.UUID | None, result: dict[str, Any]
) -> None:
    """Write the audit record and the result to replay, in one transaction.

    The provider has acted by now: a failure here must not lose the result. A busy or
    briefly absent database is tried again; a bot deleted meanwhile (another replica,
    its catalog still cached here) keeps the record without it. If the write still
    fails, the result is answered anyway and logged with its booking id; the key stays
    claimed, so a repeat waits and then takes over as from a crashed process (and
    looks for its own booking first) instead of booking again at once.
    """
    audit.count(record)  # once per call, whatever becomes of the write
    failure: Exception | None = None
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            async with runtime.engine.begin() as connection:
                await record_call(connection, record)
                if claim_id is not None:
                    await idempotency.complete(connection, runtime.keyring, claim_id, result)
            return
        except IntegrityError as exc:
            failure = exc
            if record.bot_id is None:
                break
            record = dataclasses.replace(record, bot_id=None)  # the bot was deleted
        except DBAPIError as exc:
            failure = exc
            if attempt < FINISH_ATTEMPTS:
                await asyncio.sleep(0.05 * 2**attempt)
    log.error(
        "could not record a finished tool call; its result was answered",
        tool=record.tool_name, outcome=record.outcome, booking_id=record.provider_booking_id,
        call_id=record.call_id, exc_info=failure,
    )  # fmt: skip


async def _run(
    runtime: Runtime, spec: ToolSpec, call: Call, arguments: dict[str, Any], context: CallContext
) -> tuple[dict[str, Any], str, str | None]:
    """The result, its outcome code for the audit, and the provider booking id."""
    if not spec.enabled:
        message = f"the tool {spec.name} is switched off: {spec.disabled_reason}"
        return _failure(call, "tool_disabled", message), "tool_disabled", None
    handler = HANDLERS.get((spec.kind, spec.action))
    if handler is None:  # pragma: no cover - every catalog action has a handler
        return _failure(call, "not_supported", f"{spec.action} is not available"), "error", None
    try:
        with retries.call_budget(CALL_BUDGET):
            outcome = await handler(runtime, spec, arguments, context)
    except ToolFailure as failure:
        result = _failure(call, failure.code, failure.message, retryable=failure.retryable,
                          data=failure.data)  # fmt: skip
        return result, failure.code, None
    except AgentcalError as exc:  # provider and scheduling errors carry their tool code
        code = getattr(exc, "code", None) or _CODE_BY_STATUS.get(exc.status_code, "error")
        data = getattr(exc, "data", None)
        return _failure(call, code, exc.detail, data=data or None), code, None
    except Exception:
        # A bug or a broken deployment (a missing key, the database down): still a
        # result the model can read, and audited; the details go to the log only.
        log.exception("tool call failed", tool=spec.name, action=spec.action.value)
        message = "the calendar tool failed unexpectedly; try again later"
        return _failure(call, "internal_error", message, retryable=True), "internal_error", None
    payload = {"data": outcome.data, "notifications": outcome.notifications}
    result = _result(call, True, outcome.content, payload)
    return result, "ok", outcome.booking_id


def tool_message(result: dict[str, Any]) -> dict[str, Any]:
    """The `role: tool` message to append to the conversation as it is."""
    return {"role": "tool", "tool_call_id": result.get("toolCallId"), "content": result["content"]}
