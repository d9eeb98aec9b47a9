"""Idempotent tool calls: a key per scope, kept 24 h, in the database.

A call with a key first *claims* it by inserting a `running` record; the unique
constraint makes exactly one claimant win, in one process or across replicas. Then:
* a repeat with the same arguments gets the stored result once the first call is done,
  and waits for it while it runs, so the provider is never called twice;
* a repeat with different arguments is a conflict (HTTP 409);
* a running claim is a lease (`lease_expires_at`, `LEASE_FOR` ahead), pushed forward
  every `RENEW_EVERY` seconds while its call runs (`Lease`). A claim whose lease has
  lapsed belongs to a process that died, and a repeat takes it over, within
  `LEASE_FOR` of the death; the claim says so (`resumed`), because that call's effects
  (a booking) may exist.

Lease times come from the database's clock on PostgreSQL (`now()`), where replicas on
several machines share the claims and their clocks may disagree by seconds; a SQLite
file has the processes of one machine, and their common clock.

Results are stored sealed with the keyring: they name attendees. Everything here is
SQLAlchemy Core on the engine, not the ORM: it runs on every tool call, and the ORM's
unit of work costs more than the statements themselves.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Interval,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentcal.crypto.keyring import Keyring, Sealed
from agentcal.db.engine import UTCDateTime, utcnow
from agentcal.errors import Conflict
from agentcal.runtime.models import IdempotencyRecord

log = structlog.get_logger("agentcal.runtime")

KEEP_FOR = timedelta(hours=24)
# A running call renews its lease every RENEW_EVERY seconds, so a live call's lease
# never lapses even when a renewal or two comes late (a busy database); a dead
# process's lapses at most LEASE_FOR after its last renewal.
LEASE_FOR = timedelta(seconds=6)
RENEW_EVERY = 2.0
# A claim without a lease (made by a version without leases) is taken over once older
# than the longest a call can take (it gives up after 15 s).
UNLEASED_STALE_AFTER = timedelta(seconds=60)
RUNNING, DONE = "running", "done"

_KEYS = cast(Table, IdempotencyRecord.__table__)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The statements whose lease times come from a clock: the database's on PostgreSQL
    (`db_clock`: `now()`, plus the lease as an interval), the process's on SQLite (the
    lease's end as a value)."""

    db_clock: bool
    claim: Insert
    held: Select[Any]
    renew: Update
    take_over: Update

    def lease(self, now: datetime) -> dict[str, Any]:
        """The parameters that set a lease's end, `LEASE_FOR` from now."""
        return {"lease": LEASE_FOR} if self.db_clock else {"lease_end": now + LEASE_FOR}


def _statements(db_clock: bool) -> _Statements:
    lease_end: ColumnElement[Any] = (
        func.now() + bindparam("lease", type_=Interval())
        if db_clock
        else bindparam("lease_end", type_=UTCDateTime())
    )
    columns: list[ColumnElement[Any]] = [
        _KEYS.c.id,
        _KEYS.c.arguments_hash,
        _KEYS.c.state,
        _KEYS.c.created_at,
        _KEYS.c.expires_at,
        _KEYS.c.lease_expires_at,
        _KEYS.c.result_ciphertext,
        _KEYS.c.result_key_id,
    ]
    if db_clock:
        columns.append(func.now().label("clock"))
    return _Statements(
        db_clock=db_clock,
        claim=insert(_KEYS).values(lease_expires_at=lease_end),
        held=select(*columns).where(
            _KEYS.c.scope == bindparam("scope"), _KEYS.c.key == bindparam("key")
        ),
        renew=update(_KEYS)
        .where(_KEYS.c.id == bindparam("record_id"), _KEYS.c.state == RUNNING)
        .values(lease_expires_at=lease_end),
        # A lapsed claim changes hands in one statement, under a new id, and only if
        # its lease is still the one seen: a call that was late, not dead, and renewed
        # meanwhile keeps its claim; and no other repeat can slip in between a delete
        # and an insert and run the call as if nothing had been done.
        take_over=update(_KEYS)
        .where(
            _KEYS.c.id == bindparam("record_id"),
            _KEYS.c.state == RUNNING,
            _KEYS.c.lease_expires_at.is_not_distinct_from(bindparam("seen", type_=UTCDateTime())),
        )
        .values(id=bindparam("new_id"), lease_expires_at=lease_end),
    )


# Built once: constructing a statement costs more than running it on SQLite.
_POSTGRESQL, _LOCAL_CLOCK = _statements(db_clock=True), _statements(db_clock=False)
_DROP: Delete = delete(_KEYS).where(_KEYS.c.id == bindparam("record_id"))
_TOUCH: Update = (
    update(_KEYS).where(_KEYS.c.id == bindparam("record_id")).values(state=_KEYS.c.state)
)
_COMPLETE = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("record_id"))
    .values(state=DONE, result_ciphertext=bindparam("blob"), result_key_id=bindparam("kid"))
)


def arguments_hash(keyring: Keyring, name: str, arguments: Any) -> str:
    """The call's fingerprint, whatever the key order or spacing of its JSON: an HMAC,
    so the audit trail cannot confirm a guessed e-mail."""
    return keyring.fingerprint(_canonical(name, arguments))


def fingerprints(keyring: Keyring, name: str, arguments: Any) -> tuple[str, frozenset[str]]:
    """The call's fingerprint (as `arguments_hash`), and the others a stored key of the
    same call may carry: under the other configured keys, after a rotation. The
    canonical JSON is made once: this runs on every call."""
    canonical = _canonical(name, arguments)
    current = keyring.fingerprint(canonical)
    return current, keyring.fingerprints(canonical) - {current}


def _canonical(name: str, arguments: Any) -> bytes:
    return json.dumps([name, arguments], sort_keys=True, separators=(",", ":")).encode()


def _aad(record_id: uuid.UUID) -> bytes:
    return f"idempotency_keys.result:{record_id}".encode()


class IdempotencyConflict(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"the idempotency key {key!r} was already used with different arguments; "
            "use a new key (a new tool call id) for a different call"
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """Either the right to run the call (`record_id`) or the result to replay."""

    record_id: uuid.UUID | None = None
    replay: dict[str, Any] | None = None
    resumed: bool = False  # taken over from a process that died while running the call


def _sql(engine: AsyncEngine) -> _Statements:
    return _POSTGRESQL if engine.dialect.name == "postgresql" else _LOCAL_CLOCK


async def claim(
    engine: AsyncEngine,
    keyring: Keyring,
    scope: str,
    key: str,
    args_hash: str,
    *,
    also_matching: Collection[str] = (),
    keep_for: timedelta = KEEP_FOR,
    wait: float = 30.0,
    poll: float = 0.05,
) -> Claim:
    """Claim `key` in `scope` for a call with `args_hash`, or the stored result to replay.

    `also_matching`: other hashes of the same arguments (under older keys). `keep_for`:
    how long from now the key replays its result (a key derived from the arguments
    replays only briefly, see `executor.Call.replay_for`). The caller keeps the claim's
    lease alive while its call runs (`Lease`).
    """
    sql = _sql(engine)
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        record_id = uuid.uuid4()
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sql.claim,
                    {
                        "id": record_id,
                        "scope": scope,
                        "key": key,
                        "arguments_hash": args_hash,
                        "state": RUNNING,
                        "created_at": now,
                        "expires_at": now + keep_for,
                        **sql.lease(now),
                    },
                )
            return Claim(record_id=record_id)
        except IntegrityError:
            pass  # someone holds the key: see what they hold
        async with engine.begin() as connection:
            held = (await connection.execute(sql.held, {"scope": scope, "key": key})).first()
            if held is None:
                continue  # released meanwhile: claim again
            if held.expires_at <= now:
                await connection.execute(_DROP, {"record_id": held.id})
                continue  # past its 24 h: the key is free for a new call
            if held.arguments_hash != args_hash and held.arguments_hash not in also_matching:
                raise IdempotencyConflict(key)
            if held.state == RUNNING and _lapsed(held, held.clock if sql.db_clock else now):
                taken = {
                    "record_id": held.id,
                    "seen": held.lease_expires_at,
                    "new_id": record_id,
                    **sql.lease(now),
                }
                if (await connection.execute(sql.take_over, taken)).rowcount:
                    # Orphaned by a dead process: this call resumes it, and must first
                    # look for what it did (a booking).
                    return Claim(record_id=record_id, resumed=True)
                continue  # renewed meanwhile, or taken by another repeat: look again
            if held.state == DONE:
                result = _stored_result(keyring, held)
                if result is not None:
                    return Claim(replay=result)
        if time.monotonic() >= deadline:
            raise Conflict(
                f"a call with the idempotency key {key!r} is still running; retry shortly"
            )
        await asyncio.sleep(poll)


def _lapsed(held: Any, clock: datetime) -> bool:
    """The running claim's lease has ended by `clock`: its process died."""
    if held.lease_expires_at is None:
        return bool(held.created_at <= clock - UNLEASED_STALE_AFTER)
    return bool(held.lease_expires_at <= clock)


class Lease:
    """Keeps a claim's lease from lapsing while its call runs; `stop` when it is done.

    The first renewal is due `RENEW_EVERY` seconds after the claim, so the many calls
    that end sooner cost a timer and no statement; a longer one gets a task that
    renews until stopped.
    """

    __slots__ = ("_engine", "_renewing", "_stopping", "_task", "_timer", "record_id")

    def __init__(self, engine: AsyncEngine, record_id: uuid.UUID) -> None:
        self._engine = engine
        self.record_id = record_id
        self._task: asyncio.Task[None] | None = None
        self._renewing = False
        self._stopping = False
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            RENEW_EVERY, self._start
        )

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._keep(), name="idempotency-lease")

    async def _keep(self) -> None:
        sql = _sql(self._engine)
        while True:
            self._renewing = True
            try:
                async with self._engine.begin() as connection:
                    if not sql.db_clock:
                        # SQLite: take the write lock first (any write does), so that a
                        # wait for another writer cannot leave the new lease's end,
                        # read from the clock, already past when it is written.
                        await connection.execute(_TOUCH, {"record_id": self.record_id})
                    params = {"record_id": self.record_id, **sql.lease(utcnow())}
                    if not (await connection.execute(sql.renew, params)).rowcount:
                        return  # completed, released, or taken over: nothing to keep
            except Exception:  # the database may be briefly away: the next one may do
                log.warning("could not renew a tool call's claim", exc_info=True)
            finally:
                self._renewing = False
            if self._stopping:
                return
            await asyncio.sleep(RENEW_EVERY)

    async def stop(self) -> None:
        """Renew no more. A renewal under way is let finish rather than cancelled in
        the middle of its statement (a renewal after the call's end changes nothing:
        it only touches a claim still running)."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if task is None:
            return
        if not self._renewing:
            task.cancel()
        await asyncio.wait([task])


def _stored_result(keyring: Keyring, held: Any) -> dict[str, Any] | None:
    if held.result_ciphertext is None:
        return None
    plain = keyring.open(Sealed(held.result_key_id, held.result_ciphertext), _aad(held.id))
    result: dict[str, Any] = json.loads(plain)
    return result


async def complete(
    connection: AsyncConnection, keyring: Keyring, record_id: uuid.UUID, result: dict[str, Any]
) -> None:
    """Store the finished call's result, sealed, for replays (in the caller's transaction)."""
    sealed = keyring.seal(json.dumps(result, separators=(",", ":")), _aad(record_id))
    done = await connection.execute(
        _COMPLETE, {"record_id": record_id, "blob": sealed.blob, "kid": sealed.key_id}
    )
    if getattr(done, "rowcount", 1) == 0:
        # Its lease lapsed (renewals held up for longer than the lease) and a repeat
        # took the key over: the repeat answers, after looking for this call's booking.
        log.warning("a tool call's key was taken over while it ran; its result is not stored")


async def release(engine: AsyncEngine, record_id: uuid.UUID) -> None:
    """Give a claim up (the call failed before it had a result), so a repeat can run."""
    async with engine.begin() as connection:
        await connection.execute(_DROP, {"record_id": record_id})


async def purge_expired(connection: AsyncConnection) -> int:
    """Delete keys past their 24 h; returns how many."""
    result = await connection.execute(delete(_KEYS).where(_KEYS.c.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


PURGE_EVERY = 3600.0  # seconds


async def purge_forever(engine: AsyncEngine, every: float = PURGE_EVERY) -> None:
    """Delete expired keys (and the results they hold) every `every` seconds; run as a
    background task of the app's lifespan."""
    while True:
        try:
            async with engine.begin() as connection:
                await purge_expired(connection)
        except Exception:  # the database may be briefly away; try again next time
            log.warning("could not purge expired idempotency keys", exc_info=True)
        await asyncio.sleep(every)
