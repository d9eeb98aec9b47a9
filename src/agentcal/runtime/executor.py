"""Running tool calls: resolve, claim the key, act, record, answer.

A call's life:
1. its tool is resolved in the catalog (unknown → `unknown_tool`, answered at once) and
   its arguments decoded from JSON (→ `invalid_arguments`, answered at once);
2. with an id, the idempotency key is claimed: a repeat replays the stored result and
   never reaches the provider again (different arguments → HTTP 409);
3. a switched-off or inactive tool answers `tool_disabled`; otherwise the arguments are
   parsed by the action's model (→ `invalid_arguments`) and the provider's handler runs
   inside one 15 s budget (`providers.http.call_budget`);
4. every outcome of step 3, failures included, becomes a `ToolResult`, an audit record
   and, with an id, the stored result a repeat replays; a booking change's notification
   goes to the outbox, and the change itself to the bookings index, in that same
   transaction, with the notice to every replica that the calendar's availability
   answers are out of date. Until then the claim's lease is
   renewed (`idempotency.Lease`): a repeat waits for a live call, and takes over only
   the claim of a process that died.

Failures of the tool itself (slot taken, credentials expired, bad date) are results
with `ok: false`; only the caller's own mistakes are HTTP errors. Nothing here names a
provider: the registry says which handler runs a tool of a given kind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.bookings import index
from agentcal.crypto.keyring import Keyring
from agentcal.errors import AgentcalError, ToolError
from agentcal.notifications import outbox
from agentcal.providers import availability, http, registry
from agentcal.providers.base import (
    CallContext,
    InvalidArguments,
    Outcome,
    ProviderRuntime,
    Services,
    ToolResult,
    ToolSpec,
)
from agentcal.runtime import audit, idempotency
from agentcal.runtime.audit import CallRecord, record_call
from agentcal.runtime.catalog import Catalog
from agentcal.scheduling import speech
from agentcal.scheduling.speech import Speech, say

log = structlog.get_logger("agentcal.runtime")

CALL_BUDGET = 15.0  # a tool call gives up after 15 s overall, retries included


@dataclass(frozen=True, slots=True)
class Runtime:
    """What tool calls need, owned by the app: the shared services and each provider's
    own runtime (its client, its caches), by kind."""

    services: Services
    providers: Mapping[str, ProviderRuntime]
    # How long a notification is tried before it is dead (AGENTCAL_NOTIFICATION_GIVE_UP_SECONDS).
    notification_give_up: float = 86_400.0

    @property
    def engine(self) -> AsyncEngine:
        return self.services.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.services.sessionmaker

    @property
    def keyring(self) -> Keyring:
        return self.services.keyring

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


# Errors that are no tool error (e.g. a function deleted mid-call), by their HTTP status.
_CODE_BY_STATUS = {404: "not_found", 409: "conflict", 422: "invalid_request", 503: "unavailable"}


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call as the caller sent it."""

    id: str | None
    name: str
    arguments: Any  # an object, or a JSON string of one
    # How long a repeat replays the result: 24 h for an id the caller chose; less for
    # a key derived from the arguments, which a later, new call may derive again.
    replay_for: timedelta = idempotency.KEEP_FOR


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose call it is: the institution, the bot (if any), and the idempotency scope."""

    institution_id: uuid.UUID
    bot_id: uuid.UUID | None
    idempotency_scope: str
    # Results are heard, not read (a voice channel): written for the ear.
    voice: bool = False


def decode_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object: OpenAI sends them as a JSON string."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise InvalidArguments(say("the arguments are not valid JSON")) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArguments(say("the arguments must be a JSON object"))
    # OpenAI strict mode sends every optional argument, as null when unused.
    return {k: v for k, v in raw.items() if v is not None}


async def execute(runtime: Runtime, catalog: Catalog, scope: Scope, call: Call) -> ToolResult:
    """Run one call and answer its result. Never raises for tool failures; raises
    `IdempotencyConflict` (HTTP 409) for a reused key with other arguments.

    The call runs in a task of its own, shielded from the caller's cancellation: once a
    booking has started, a client that hangs up must not leave it half done (booked
    but unrecorded, its key released so that a retry books again). The result is then
    stored for the retry to replay.

    Every sentence of the result, its failures included, is written in the bot's
    language and, on a voice channel, to be heard: the task starts in that speech.
    """
    with speech.speaking(Speech(catalog.language, scope.voice)):
        task = asyncio.ensure_future(_execute(runtime, catalog, scope, call))
    return await asyncio.shield(task)


async def _execute(runtime: Runtime, catalog: Catalog, scope: Scope, call: Call) -> ToolResult:
    spec = catalog.resolve(call.name)
    if spec is None:
        names = ", ".join(t.name for t in catalog.offered()) or say("none")
        message = say("there is no tool {name}; tools: {names}", name=repr(call.name), names=names)
        return ToolResult.failure(call.id, "unknown_tool", message)
    try:
        arguments = decode_arguments(call.arguments)
    except ToolError as error:
        return ToolResult.from_error(call.id, error)
    args_hash, older_hashes = idempotency.fingerprints(runtime.keyring, call.name, arguments)

    claim = None
    if call.id:
        claim = await idempotency.claim(
            runtime.engine,
            runtime.keyring,
            scope.idempotency_scope,
            call.id,
            args_hash,
            also_matching=older_hashes,
            keep_for=call.replay_for,
        )
        if claim.replay is not None:
            return ToolResult.from_json(claim.replay).for_call(call.id)
    context = CallContext(
        key=f"{scope.idempotency_scope}:{call.id}" if call.id else None,
        resumed=claim is not None and claim.resumed,
    )
    claim_id = claim.record_id if claim is not None else None
    # Renewed while the call runs and until its result is stored, so a repeat waits
    # for it instead of taking it over as a dead process's.
    lease = idempotency.Lease(runtime.engine, claim_id) if claim_id is not None else None
    started = time.perf_counter()
    try:
        # The call's speech (set by `execute`, which started this task in it) collects
        # the zones heard times left out; one sentence at the end names them.
        result, outcome_code, outcome = await _run(runtime, spec, call, arguments, context)
        result = result.ended_with(speech.ending())
    except BaseException:
        if lease is not None:
            await lease.stop()
            await idempotency.release(runtime.engine, lease.record_id)
        raise
    record = CallRecord(
        institution_id=scope.institution_id,
        bot_id=scope.bot_id,
        function_kind=spec.kind,
        function_id=spec.function_id,
        action=spec.action.value,
        tool_name=spec.name,
        call_id=call.id,
        arguments_hash=args_hash,
        outcome=outcome_code,
        latency_ms=int((time.perf_counter() - started) * 1000),
        provider_booking_id=outcome.booking_id if outcome is not None else None,
    )
    try:
        await _finish(runtime, record, claim_id, result, outcome)
    finally:
        if lease is not None:
            await lease.stop()
    return result


FINISH_ATTEMPTS = 3


async def _finish(
    runtime: Runtime,
    record: CallRecord,
    claim_id: uuid.UUID | None,
    result: ToolResult,
    outcome: Outcome | None = None,
) -> None:
    """Write the audit record, the result to replay, the notifications the change
    asks for and what the bookings index must learn of it, in one transaction: a
    notification or an index entry exists exactly when its call's record does, so none
    is lost and none is sent for a call that left no record.

    The provider has acted by now: a failure here must not lose the result. A busy or
    briefly absent database is tried again; a bot deleted meanwhile (another replica,
    its catalog still cached here) keeps the record without it. If the write still
    fails, the result is answered anyway and logged with its booking id; the key stays
    claimed, so a repeat waits until its lease lapses and then takes over as from a
    crashed process (and looks for its own booking first) instead of booking again.
    """
    audit.count(record)  # once per call, whatever becomes of the write
    notifications = outcome.notifications if outcome is not None else ()
    changes = outcome.bookings if outcome is not None else ()
    if changes:
        # The provider has changed the calendar: this process's kept availability
        # answers are out of date now, whatever becomes of the write below.
        availability.forget(record.function_kind, record.function_id)
    failure: Exception | None = None
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            async with runtime.engine.begin() as connection:
                await record_call(connection, record)
                if claim_id is not None:
                    await idempotency.complete(
                        connection, runtime.keyring, claim_id, result.to_json()
                    )
                if notifications:
                    origin = outbox.Origin(
                        record.institution_id,
                        record.function_kind,
                        record.function_id,
                        record.id,
                        record.created_at,
                    )
                    await outbox.enqueue(
                        connection,
                        runtime.keyring,
                        origin,
                        notifications,
                        give_up_after=runtime.notification_give_up,
                    )
                if changes:
                    await index.record(
                        connection,
                        record.institution_id,
                        record.function_kind,
                        record.function_id,
                        changes,
                    )
                    # The other replicas' answers, at the commit.
                    await availability.notify(connection, record.function_kind, record.function_id)
            if notifications:
                outbox.wake_local()
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
        tool=record.tool_name,
        outcome=record.outcome,
        booking_id=record.provider_booking_id,
        call_id=record.call_id,
        exc_info=failure,
    )


async def _run(
    runtime: Runtime, spec: ToolSpec, call: Call, arguments: dict[str, Any], context: CallContext
) -> tuple[ToolResult, str, Outcome | None]:
    """The result, its outcome code for the audit, and the handler's outcome if it
    had one (its booking id, notifications and index changes are recorded)."""
    if not spec.enabled:
        message = say(
            "the tool {name} is switched off: {reason}",
            name=spec.name,
            reason=say(spec.disabled_reason or ""),
        )
        return ToolResult.failure(call.id, "tool_disabled", message), "tool_disabled", None
    handler = registry.get(spec.kind).handlers[spec.action]
    try:
        parsed = spec.arguments.parse(arguments)
        with http.call_budget(CALL_BUDGET):
            outcome = await handler(runtime.providers[spec.kind], spec, parsed, context)
    except ToolError as error:
        return ToolResult.from_error(call.id, error), error.code, None
    except AgentcalError as exc:  # e.g. the function was deleted mid-call
        code = _CODE_BY_STATUS.get(exc.status_code, "error")
        return ToolResult.failure(call.id, code, exc.detail), code, None
    except Exception:
        # A bug or a broken deployment (a missing key, the database down): still a
        # result the model can read, and audited; the details go to the log only.
        log.exception("tool call failed", tool=spec.name, action=spec.action.value)
        message = say("the calendar tool failed unexpectedly; try again later")
        failure = ToolResult.failure(call.id, "internal_error", message, retryable=True)
        return failure, "internal_error", None
    return ToolResult.success(call.id, outcome), "ok", outcome
