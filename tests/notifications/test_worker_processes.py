"""Real `agentcal worker` processes on the suite's database: a worker killed while it
holds a claim, two workers sharing 500 notifications, and a graceful stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agentcal.notifications.models import NotificationRecord
from agentcal.notifications.worker import Worker
from agentcal.sandbox.faults import Fault
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import enqueue_many, notifying, rows, sink_url
from tests.support import wait_until

# Short, so that a killed worker's claim returns quickly; an attempt ends well within it.
LEASE, TIMEOUT = 3.0, 1.5


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Workers:
    """`agentcal worker` processes on the suite's database; all killed at the end."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.directory = directory
        self.started: list[WorkerProcess] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")} | {
            "AGENTCAL_DATABASE_URL": settings.resolved_database_url,
            "AGENTCAL_SECRET_KEYS": str(settings.secret_keys),
            "AGENTCAL_DATA_DIR": str(directory),
            "AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE": "true",
            "AGENTCAL_NOTIFICATION_LEASE_SECONDS": str(LEASE),
            "AGENTCAL_NOTIFICATION_POLL_SECONDS": "0.2",
            "AGENTCAL_NOTIFICATION_TIMEOUT_SECONDS": str(TIMEOUT),
            "AGENTCAL_LOG_LEVEL": "INFO",  # each attempt is logged
        }

    async def start(self, **env: str) -> WorkerProcess:
        log = self.directory / f"worker-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "agentcal", "worker"],
                env=self.env | env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process, log)
        self.started.append(worker)

        def ready() -> bool:
            assert process.poll() is None, worker.output()[-4000:]
            return "delivering notifications from" in worker.output()

        await wait_until(ready, timeout=30, interval=0.05)
        return worker

    @staticmethod
    def kill(worker: WorkerProcess) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)


@pytest.fixture
async def workers(settings: Settings, engine: Any, tmp_path: Path) -> AsyncIterator[Workers]:
    started = Workers(settings, tmp_path)
    try:
        yield started
    finally:
        for worker in started.started:
            started.kill(worker)


async def test_a_worker_killed_holding_a_claim_gives_it_back_after_the_lease(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: Settings,
    workers: Workers,
    start_worker: Callable[..., Worker],
) -> None:
    # The receiver takes the first request and never answers it: the worker is killed
    # with the delivery claimed and unfinished.
    hang = Fault(path_prefix="/sandbox/webhooks/killed", hang=True, status=503)
    sandbox.state.faults.rules.append(hang)
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "killed"))
    first = await workers.start()
    await function.book("10:00")
    await wait_until(lambda: hang not in sandbox.state.faults.rules, timeout=10)
    [claimed] = await rows(app)
    assert claimed.claim_id is not None
    assert claimed.attempts == 1
    assert claimed.lease_expires_at is not None
    workers.kill(first)

    start_worker()
    [delivered] = await _wait_for(function, "delivered")
    assert delivered["attempts"] == 2
    [row] = await rows(app)
    assert row.delivered_at is not None
    assert row.delivered_at >= claimed.lease_expires_at
    [received] = sandbox.state.channels.sink["killed"]
    assert received.headers["webhook-id"] == delivered["webhookId"]


async def _wait_for(function: Any, status: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def reached() -> bool:
        nonlocal found
        found = await function.listed()
        return bool(found) and all(n["status"] == status for n in found)

    await wait_until(reached, timeout=20, interval=0.05)
    return found


async def test_two_workers_deliver_500_notifications_each_exactly_once(
    app: FastAPI,
    backend: str,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: Settings,
    workers: Workers,
) -> None:
    if backend != "postgresql":
        pytest.skip("workers scale out on PostgreSQL; SQLite runs one")
    # A receiver slow enough (20 ms an answer) that the two must share the work.
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/sandbox/webhooks/many", latency_ms=20, times=-1)
    )
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "many"))
    # Leases long enough for any attempt on this busy machine, as in production.
    roomy = {
        "AGENTCAL_NOTIFICATION_LEASE_SECONDS": "30",
        "AGENTCAL_NOTIFICATION_TIMEOUT_SECONDS": "10",
    }
    pair = [await workers.start(**roomy), await workers.start(**roomy)]
    await enqueue_many(app, tenant, function.function_id, 500)

    received = sandbox.state.channels.sink
    await wait_until(lambda: len(received.get("many", [])) >= 500, timeout=60, interval=0.1)
    ids = [r.headers["webhook-id"] for r in received["many"]]
    async with app.state.sessionmaker() as session:
        stored = list(await session.scalars(select(NotificationRecord)))
    assert len(stored) == 500
    assert sorted(ids) == sorted(f"msg_{r.id.hex}" for r in stored)  # each once, none twice

    async def all_recorded() -> bool:
        return all(r.status == "delivered" for r in await rows(app))

    await wait_until(all_recorded, timeout=10, interval=0.1)
    assert all(r.attempts == 1 for r in await rows(app))
    shares = [w.output().count('"outcome": "delivered"') for w in pair]
    assert sum(shares) == 500, shares
    assert min(shares) > 0, shares  # both took part


async def test_a_stopped_worker_finishes_the_delivery_it_is_making(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: Settings,
    workers: Workers,
) -> None:
    slow = Fault(path_prefix="/sandbox/webhooks/graceful", latency_ms=800)
    sandbox.state.faults.rules.append(slow)
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "graceful"))
    worker = await workers.start()
    await function.book("10:00")
    await wait_until(lambda: slow not in sandbox.state.faults.rules, timeout=10)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=15) == 0, worker.output()[-2000:]
    [row] = await rows(app)
    assert row.status == "delivered"
    assert row.claim_id is None
    assert len(sandbox.state.channels.sink["graceful"]) == 1
