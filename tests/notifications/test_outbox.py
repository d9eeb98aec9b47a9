"""The retry schedule: backoff with jitter, the receiver's wait, and giving up."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from agentcal.db.engine import utcnow
from agentcal.notifications.outbox import claim, next_attempt
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import enqueue_many, notifying, sink_url

WAITS = (10.0, 30.0, 120.0, 600.0, 3600.0)


def _wait_after(attempts: int, at_least: float = 0.0) -> float:
    later = utcnow() + timedelta(days=2)
    before = utcnow()
    when = next_attempt(attempts, WAITS, later, at_least)
    assert when is not None
    return (when - before).total_seconds()


def test_each_attempt_waits_longer_with_jitter_then_hourly() -> None:
    for attempts, wait in ((1, 10), (2, 30), (3, 120), (4, 600), (5, 3600), (9, 3600)):
        seen = [_wait_after(attempts) for _ in range(200)]
        assert wait * 0.8 - 0.01 <= min(seen) < max(seen) <= wait * 1.2 + 0.01
        assert max(seen) - min(seen) > wait * 0.2  # spread, not one fixed delay


def test_a_receivers_wait_outranks_the_schedule() -> None:
    assert _wait_after(1, at_least=45) >= 45


def test_past_the_give_up_time_there_is_no_next_attempt() -> None:
    assert next_attempt(3, WAITS, utcnow() + timedelta(seconds=60)) is None


async def test_a_claim_takes_no_more_than_its_limit(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, lab: object
) -> None:
    """On PostgreSQL a plain `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may be planned
    as a nested loop that re-runs the subquery and claims every due row."""
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "limited"))
    await enqueue_many(app, tenant, function.function_id, 60)
    engine, keyring = app.state.engine, app.state.keyring
    first = await claim(engine, keyring, 5, lease=30)
    second = await claim(engine, keyring, 50, lease=30)
    assert len(first) == 5
    assert len(second) == 50
    assert not {r.id for r in first} & {r.id for r in second}
    assert len(await claim(engine, keyring, 50, lease=30)) == 5
