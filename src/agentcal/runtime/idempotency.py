"""Idempotent tool calls (SPEC §4.3): a key per scope, kept 24 h, in the database.

A call with a key first *claims* it by inserting a `running` record; the unique
constraint makes exactly one claimant win, in one process or across replicas. Then:
* a repeat with the same arguments gets the stored result once the first call is done,
  and waits for it while it runs, so the provider is never called twice;
* a repeat with different arguments is a conflict (HTTP 409);
* a claim left `running` by a process that died is taken over once it is older than
  the longest a call can take.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentcal.database import utcnow
from agentcal.errors import Conflict
from agentcal.runtime.models import IdempotencyRecord

log = structlog.get_logger("agentcal.runtime")

KEEP_FOR = timedelta(hours=24)
# A call gives up after 15 s (SPEC §5.3); a claim still running well after that belongs
# to a process that died mid-call.
STALE_AFTER = timedelta(seconds=60)
RUNNING, DONE = "running", "done"

Sessionmaker = async_sessionmaker[AsyncSession]


def arguments_hash(name: str, arguments: Any) -> str:
    """The same call, whatever the key order or spacing of its JSON."""
    canonical = json.dumps([name, arguments], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyConflict(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"the idempotency key {key!r} was already used with different arguments; "
            "use a new key (a new tool call id) for a different call"
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """Either the right to run the call (`record_id`) or the result to replay."""

    record_id: Any = None
    replay: dict[str, Any] | None = None


async def claim(
    sessionmaker: Sessionmaker,
    scope: str,
    key: str,
    args_hash: str,
    *,
    wait: float = 30.0,
    poll: float = 0.05,
) -> Claim:
    """Claim `key` in `scope` for a call with `args_hash`, or the stored result to replay."""
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        record = IdempotencyRecord(
            scope=scope, key=key, arguments_hash=args_hash, state=RUNNING,
            created_at=now, expires_at=now + KEEP_FOR,
        )  # fmt: skip
        try:
            async with sessionmaker() as session, session.begin():
                session.add(record)
            return Claim(record_id=record.id)
        except IntegrityError:
            pass  # someone holds the key: see what they hold
        async with sessionmaker() as session, session.begin():
            held = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
            if held is None:
                continue  # released meanwhile: claim again
            if held.expires_at <= now or (
                held.state == RUNNING and held.created_at <= now - STALE_AFTER
            ):
                await session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.id == held.id)
                )
                continue  # expired, or orphaned by a dead process: take it over
            if held.arguments_hash != args_hash:
                raise IdempotencyConflict(key)
            if held.state == DONE and held.result is not None:
                return Claim(replay=held.result)
        if time.monotonic() >= deadline:
            raise Conflict(
                f"a call with the idempotency key {key!r} is still running; retry shortly"
            )
        await asyncio.sleep(poll)


async def complete(sessionmaker: Sessionmaker, record_id: Any, result: dict[str, Any]) -> None:
    """Store the finished call's result for replays."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(state=DONE, result=result)
        )


async def release(sessionmaker: Sessionmaker, record_id: Any) -> None:
    """Give a claim up (the call failed before it had a result), so a repeat can run."""
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


async def purge_expired(session: AsyncSession) -> int:
    """Delete keys past their 24 h; returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


PURGE_EVERY = 3600.0  # seconds


async def purge_forever(sessionmaker: Sessionmaker, every: float = PURGE_EVERY) -> None:
    """Delete expired keys (and the results they hold) every `every` seconds; run as a
    background task of the app's lifespan."""
    while True:
        try:
            async with sessionmaker() as session, session.begin():
                await purge_expired(session)
        except Exception:  # the database may be briefly away; try again next time
            log.warning("could not purge expired idempotency keys", exc_info=True)
        await asyncio.sleep(every)
