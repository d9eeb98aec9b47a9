"""Caches kept in step across PostgreSQL replicas (`agentcal.db.cache_sync`).

Two replicas (`agentcal serve` processes) with caches that would keep entries a minute
(`AGENTCAL_CACHE_SECONDS=60`); a change made through one must reach the other's next
call within a couple of seconds, which only a notification can do.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.caches import CHANNEL
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.runtime.support import CHECK, bot_with_own_calcom_user
from tests.servers import replica_clients, replica_env, running_replicas
from tests.support import next_monday, wait_until

PROMPT = 2.0  # seconds within which a change must show on the other replica
# Set-up changes notify too: a replica must have handled them before it caches, so that
# only the change under test can empty its cache. A marker notification, counted by
# each replica's /metrics, says when: notifications arrive in commit order.
MARKER = "agentcal_test_sync_marker"
_NOTIFY = text("SELECT pg_notify(:channel, :tables)")
_ENV: dict[str, str] = {}  # the replicas' environment, for CLI commands beside them


@pytest.fixture(scope="module")
def replica_urls(
    backend: str, engine: AsyncEngine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two `agentcal serve` processes on the suite's database (`engine` migrated it):
    processes, not apps in this one, whose commits would empty every cache here."""
    if backend != "postgresql":
        pytest.skip(
            "replicas share PostgreSQL; SQLite is one process (its commits empty its caches)"
        )
    env = replica_env(settings, AGENTCAL_CACHE_SECONDS="60")  # stale would show a minute
    _ENV.clear()
    _ENV.update(env)
    with running_replicas(env, tmp_path_factory) as urls:
        yield urls[0], urls[1]


@pytest.fixture
async def clients(
    replica_urls: tuple[str, str], tenant: Tenant
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with replica_clients(replica_urls, tenant.token) as both:
        yield both


async def _call(client: httpx.AsyncClient, bot_id: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={
            "toolCalls": [
                {
                    "id": f"s-{uuid.uuid4().hex[:8]}",
                    "name": CHECK,
                    "arguments": {"startDate": next_monday().isoformat()},
                }
            ]
        },
    )


async def _markers_seen(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    label = f'agentcal_cache_notifications_total{{table="{MARKER}"}} '
    line = next((line for line in metrics.splitlines() if line.startswith(label)), None)
    return float(line.split()[-1]) if line else 0.0


async def _settled(engine: AsyncEngine, *replicas: httpx.AsyncClient) -> None:
    """Return once every replica has handled all cache notifications committed so far."""
    before = [await _markers_seen(r) for r in replicas]
    async with engine.begin() as connection:
        await connection.execute(_NOTIFY, {"channel": CHANNEL, "tables": MARKER})

    async def all_seen() -> bool:
        seen = [await _markers_seen(r) for r in replicas]
        return all(now > then for now, then in zip(seen, before, strict=True))

    await wait_until(all_seen, timeout=PROMPT, interval=0.05)


async def test_a_tool_switched_off_on_one_replica_is_off_on_the_other_at_once(
    tenant: Tenant,
    sandbox: SandboxServer,
    clients: tuple[httpx.AsyncClient, ...],
    engine: AsyncEngine,
) -> None:
    first, second = clients
    bot_id, integration_id, body = await bot_with_own_calcom_user(tenant, sandbox)
    await _settled(engine, first, second)  # the notifications of the set-up have arrived
    warm = await _call(second, bot_id)  # the second replica caches the bot's tools
    assert warm.json()["results"][0]["ok"] is True, warm.text
    update = {k: v for k, v in body.items() if k != "apiKey"} | {"checkAvailabilityEnabled": False}
    changed = await first.put(f"/api/v1/calcom/integration/{integration_id}", json=update)
    assert changed.status_code == 200, changed.text

    async def off() -> bool:
        result: dict[str, Any] = (await _call(second, bot_id)).json()["results"][0]
        return result.get("error", {}).get("code") == "tool_disabled"

    await wait_until(off, timeout=PROMPT, interval=0.05)


async def test_a_token_revoked_on_one_replica_is_refused_by_the_other_at_once(
    tenant: Tenant, clients: tuple[httpx.AsyncClient, ...], engine: AsyncEngine
) -> None:
    first, second = clients
    issued = await tenant.api.post("/api/v1/access-tokens", json={"name": "sync"})
    assert issued.status_code == 201, issued.text
    token, token_id = issued.json()["token"], issued.json()["id"]
    auth = {"Authorization": f"Bearer {token}"}
    await _settled(engine, first, second)  # the issue's own notification has arrived
    assert (await second.get("/api/v1/bots", headers=auth)).status_code == 200  # now cached
    revoked = await first.delete(f"/api/v1/access-tokens/{token_id}")
    assert revoked.status_code == 204, revoked.text

    async def refused() -> bool:
        return (await second.get("/api/v1/bots", headers=auth)).status_code == 401

    await wait_until(refused, timeout=PROMPT, interval=0.05)


async def test_a_token_revoked_by_the_cli_is_refused_by_the_servers_at_once(
    tenant: Tenant, clients: tuple[httpx.AsyncClient, ...], engine: AsyncEngine
) -> None:
    """A CLI command is a process of its own, with no caches: its commit notifies too."""
    first, second = clients
    issued = await tenant.api.post("/api/v1/access-tokens", json={"name": "cli-sync"})
    assert issued.status_code == 201, issued.text
    auth = {"Authorization": f"Bearer {issued.json()['token']}"}
    await _settled(engine, first, second)  # the issue's own notification has arrived
    assert (await second.get("/api/v1/bots", headers=auth)).status_code == 200  # now cached
    revoke = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentcal",
        "tokens",
        "revoke",
        issued.json()["id"],
        env=_ENV,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await revoke.communicate()
    assert revoke.returncode == 0, errors.decode()

    async def refused() -> bool:
        return (await second.get("/api/v1/bots", headers=auth)).status_code == 401

    await wait_until(refused, timeout=PROMPT, interval=0.05)
