"""Tool-call overhead over the provider's own latency (SPEC §9: p50 <= 2 ms, p99 <= 10 ms).

Side by side, alternating, in one run: the provider requests a Cal.com
`check_availability` makes (event types, then slots), sent straight to the sandbox;
and the same tool call through agentcal (`agentcal serve --sandbox`, SQLite, one
process), with a call id, so the idempotency claim and the audit record are included.
The overhead of each pair is the difference of the two.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{url} was not ready in 30 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="pairs to measure")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="agentcal-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    env |= {"AGENTCAL_DATA_DIR": str(data_dir), "AGENTCAL_LOG_LEVEL": "WARNING"}
    port, sandbox_port = free_port(), free_port()
    agentcal = [sys.executable, "-m", "agentcal"]
    server = subprocess.Popen(
        [*agentcal, "serve", "--port", str(port), "--sandbox", "--sandbox-port", str(sandbox_port)],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        api_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
        wait_ready(f"{api_url}/readyz")
        boot = json.loads(
            subprocess.run(
                [*agentcal, "admin", "bootstrap", "--institution", "Bench", "--unit", "Bench",
                 "--user", "bench@example.com", "--json"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {boot['token']}"})
        sandbox = httpx.Client(base_url=sandbox_url)
        bot = api.post("/api/v1/bots", json={"name": "Bench", "unitId": boot["unitId"]}).json()
        api.post(
            "/api/v1/calcom/integration",
            json={"title": "Demo", "unitId": boot["unitId"], "apiKey": "cal_sandbox_demo",
                  "calcomUsername": "demo", "timezone": "America/Sao_Paulo", "prompt": "bench",
                  "checkAvailabilityEnabled": True, "createBookingEnabled": True,
                  "botId": bot["id"], "defaultEventTypeSlug": "30min"},
        ).raise_for_status()  # fmt: skip
        tool = api.get(f"/api/v1/bots/{bot['id']}/tools").json()["tools"][0]["function"]["name"]
        day = dt.date.today() + dt.timedelta(days=(7 - dt.date.today().weekday()) or 7)
        window = {"start": f"{day}T03:00:00Z", "end": f"{day + dt.timedelta(days=1)}T03:00:00Z"}
        calcom_headers = {"Authorization": "Bearer cal_sandbox_demo"}

        def direct() -> float:
            started = time.perf_counter()
            types = sandbox.get(
                "/calcom/v2/event-types", params={"username": "demo"},
                headers={**calcom_headers, "cal-api-version": "2024-06-14"},
            )  # fmt: skip
            event_type = types.json()["data"][0]["id"]
            sandbox.get(
                "/calcom/v2/slots",
                params={**window, "timeZone": "America/Sao_Paulo", "format": "range",
                        "eventTypeId": str(event_type)},
                headers={**calcom_headers, "cal-api-version": "2024-09-04"},
            ).raise_for_status()  # fmt: skip
            return time.perf_counter() - started

        def through_agentcal(i: int) -> float:
            started = time.perf_counter()
            response = api.post(
                f"/api/v1/bots/{bot['id']}/tool-calls",
                json={"toolCalls": [{"id": f"bench-{i}", "name": tool,
                                     "arguments": {"startDate": day.isoformat()}}]},
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            assert response.json()["results"][0]["ok"], response.text
            return elapsed

        for i in range(30):  # warm-up: connections, caches, JIT-free but lazy imports
            direct()
            through_agentcal(-1 - i)
        overheads, directs, tools = [], [], []
        for i in range(args.calls):
            a = direct()
            b = through_agentcal(i)
            directs.append(a)
            tools.append(b)
            overheads.append(b - a)
    finally:
        server.terminate()
        server.wait()

    ms = 1000
    print(f"{args.calls} alternating pairs; agentcal on SQLite, one process; sandbox 0 ms latency")
    print(f"provider calls direct   : p50 {statistics.median(directs) * ms:6.2f} ms  "
          f"p99 {percentile(directs, 0.99) * ms:6.2f} ms")  # fmt: skip
    print(f"tool call via agentcal  : p50 {statistics.median(tools) * ms:6.2f} ms  "
          f"p99 {percentile(tools, 0.99) * ms:6.2f} ms")  # fmt: skip
    p50, p99 = statistics.median(overheads) * ms, percentile(overheads, 0.99) * ms
    print(f"overhead (pairwise)     : p50 {p50:6.2f} ms  p99 {p99:6.2f} ms   "
          f"(bars: p50 <= 2 ms, p99 <= 10 ms)  "
          f"{'ok' if p50 <= 2 and p99 <= 10 else 'BELOW BAR'}")  # fmt: skip


if __name__ == "__main__":
    main()
