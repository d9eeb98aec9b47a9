"""Run an ASGI app on a real loopback socket, in a thread, for the length of a test session."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from agentcal.settings import Settings
from tests.support import free_port


@contextmanager
def serve_in_thread(app: Any, *, lifespan: bool = False) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) and yield its base URL.

    With `lifespan`, the app's lifespan runs too, in the server's thread and event loop,
    and the server stops gracefully (within 5 s) so that the lifespan's cleanup runs.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on" if lifespan else "off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        # Don't wait for requests a test left hanging on purpose; an app with a lifespan
        # waits (at most the graceful timeout), as uvicorn skips its cleanup otherwise.
        server.force_exit = not lifespan
        thread.join(timeout=10)


def replica_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of `agentcal serve` replicas on the suite's database and
    sandboxes (no other AGENTCAL_ setting of the caller's leaks in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    return env | {
        "AGENTCAL_DATABASE_URL": str(settings.database_url),
        "AGENTCAL_SECRET_KEYS": str(settings.secret_keys),
        "AGENTCAL_CALCOM_API_URL": settings.calcom_api_url,
        "AGENTCAL_GOOGLE_API_URL": settings.google_api_url,
        "AGENTCAL_GOOGLE_TOKEN_URL": settings.google_token_url,
        "AGENTCAL_LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def running_replicas(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, count: int = 2
) -> Iterator[list[str]]:
    """`count` `agentcal serve` processes with `env`, each with a data dir of its own;
    yields their base URLs once every one is ready, and stops them after."""
    urls, processes = [], []
    try:
        for _ in range(count):
            port = free_port()
            data_dir = tmp_path_factory.mktemp("replica")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "agentcal", "serve", "--port", str(port)],
                    env=env | {"AGENTCAL_DATA_DIR": str(data_dir)},
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            _wait_ready(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # a process starting up: not a test's wait on a condition
    raise AssertionError(f"{url} was not ready in 30 s")


@asynccontextmanager
async def replica_clients(
    urls: tuple[str, str], token: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of the two replicas, with `token`."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=urls[0], headers=headers) as first,
        httpx.AsyncClient(base_url=urls[1], headers=headers) as second,
    ):
        yield first, second
