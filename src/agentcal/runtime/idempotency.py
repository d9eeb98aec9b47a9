"""Idempotent tool calls: a key per scope, kept 24 h, in the database.

A call with a key first *claims* it by inserting a `running` record; the unique
constraint makes exactly one claimant win, in one process or across replicas. Then:
* a repeat with the same arguments gets the stored result once the first call is done,
  and waits for it while it runs, so the provider is never called twice;
* a repeat with different arguments is a conflict (HTTP 409);
* a claim left `running` by a process that died is taken over once it is older than
  the longest a call can take; the claim says so (`resumed`), because that call's
  effects (a booking) may exist.

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
from datetime import timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentcal.crypto.keyring import Keyring, Sealed
from agentcal.db.engine import utcnow
from agentcal.errors import Conflict
from agentcal.runtime.models import IdempotencyRecord

log = structlog.get_logger("agentcal.runtime")

KEEP_FOR = timedelta(hours=24)
# A call gives up after 15 s; a claim still running well after that belongs
# to a process that died mid-call.
STALE_AFTER = timedelta(seconds=60)
RUNNING, DONE = "running", "done"

_KEYS = cast(Table, IdempotencyRecord.__table__)
# Built once: constructing a statement costs more than running it on SQLite.
_CLAIM = insert(_KEYS)
_HELD = select(
    _KEYS.c.id,
    _KEYS.c.arguments_hash,
    _KEYS.c.state,
    _KEYS.c.created_at,
    _KEYS.c.expires_at,
    _KEYS.c.result_ciphertext,
    _KEYS.c.result_key_id,
).where(_KEYS.c.scope == bindparam("scope"), _KEYS.c.key == bindparam("key"))
_DROP = delete(_KEYS).where(_KEYS.c.id == bindparam("record_id"))
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


async def claim(
    engine: AsyncEngine,
    keyring: Keyring,
    scope: str,
    key: str,
    args_hash: str,
    *,
    also_matching: Collection[str] = (),
    wait: float = 30.0,
    poll: float = 0.05,
) -> Claim:
    """Claim `key` in `scope` for a call with `args_hash`, or the stored result to replay.

    `also_matching`: other hashes of the same arguments (under older keys).
    """
    deadline = time.monotonic() + wait
    resumed = False
    while True:
        now = utcnow()
        record_id = uuid.uuid4()
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    _CLAIM,
                    {
                        "id": record_id,
                        "scope": scope,
                        "key": key,
                        "arguments_hash": args_hash,
                        "state": RUNNING,
                        "created_at": now,
                        "expires_at": now + KEEP_FOR,
                    },
                )
            return Claim(record_id=record_id, resumed=resumed)
        except IntegrityError:
            pass  # someone holds the key: see what they hold
        async with engine.begin() as connection:
            held = (await connection.execute(_HELD, {"scope": scope, "key": key})).first()
            if held is None:
                continue  # released meanwhile: claim again
            orphaned = held.state == RUNNING and held.created_at <= now - STALE_AFTER
            if held.expires_at <= now or orphaned:
                await connection.execute(_DROP, {"record_id": held.id})
                resumed = orphaned
                continue  # expired, or orphaned by a dead process: take it over
            if held.arguments_hash != args_hash and held.arguments_hash not in also_matching:
                raise IdempotencyConflict(key)
            if held.state == DONE:
                result = _stored_result(keyring, held)
                if result is not None:
                    return Claim(replay=result)
        if time.monotonic() >= deadline:
            raise Conflict(
                f"a call with the idempotency key {key!r} is still running; retry shortly"
            )
        await asyncio.sleep(poll)


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
        # Ran so long (over STALE_AFTER) that a repeat took the key over as orphaned.
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
