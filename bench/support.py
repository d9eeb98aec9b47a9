"""What the benchmark scripts share: ports, readiness, and an institution to call as."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

AGENTCAL = [sys.executable, "-m", "agentcal"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30) -> float:
    """Seconds until `url` answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{url} was not ready after {timeout} s")


def bootstrap(env: dict[str, str]) -> dict[str, Any]:
    """An institution, a unit and an admin token (`agentcal admin bootstrap --json`)."""
    out = subprocess.run(
        [
            *AGENTCAL,
            "admin",
            "bootstrap",
            "--institution",
            "Bench",
            "--unit",
            "Bench",
            "--user",
            "bench@example.com",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    boot: dict[str, Any] = json.loads(out)
    return boot
