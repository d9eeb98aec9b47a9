"""Tool-call overhead over the provider's own latency (the bars: p50 <= 2 ms, p99 <= 10 ms).

Side by side, alternating, in one run:
1. the provider request a Cal.com `check_availability` makes, sent straight to the
   sandbox;
2. the same request through a bare FastAPI + httpx proxy (`bench_server.py`): the floor
   of any service built on this stack, measured to show what the hardware allows;
3. the tool call through agentcal (its app under uvicorn, SQLite, one process), with a
   call id, so the idempotency claim and the audit record are included.
The overhead of each is its difference to (1) in the same round.

The provider request is `GET /v2/slots` alone: agentcal caches a user's event types for
a minute (`docs/runtime.md`), so a warm call sends nothing else, and the direct side
sends exactly what agentcal sends. `--cold` turns agentcal's caches off
(`AGENTCAL_CACHE_SECONDS=0`) and adds the event-types request to the direct side.

The sandbox runs as a process of its own (`agentcal sandbox`), as a provider would: in
agentcal's process (`serve --sandbox`) its thread would compete with agentcal's for the
GIL, and agentcal would be measured paying for the provider's own work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from support import bootstrap, free_port, wait_ready


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="pairs to measure")
    parser.add_argument("--cold", action="store_true", help="agentcal without its caches")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="agentcal-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    env |= {"AGENTCAL_DATA_DIR": str(data_dir), "AGENTCAL_LOG_LEVEL": "WARNING"}
    # Requests are counted against the rate limits, as in production, but never refused:
    # a bench sends far more than one token or bot is allowed.
    env |= {
        "AGENTCAL_RATE_LIMIT_PER_TOKEN": "1000000/minute",
        "AGENTCAL_RATE_LIMIT_PER_BOT": "1000000/minute",
    }
    if args.cold:
        env["AGENTCAL_CACHE_SECONDS"] = "0"
    port, sandbox_port = free_port(), free_port()
    agentcal = [sys.executable, "-m", "agentcal"]
    api_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    provider = subprocess.Popen(
        [*agentcal, "sandbox", "--port", str(sandbox_port)], env=env, stderr=subprocess.DEVNULL
    )
    env |= {
        "AGENTCAL_CALCOM_API_URL": f"{sandbox_url}/calcom",
        "AGENTCAL_GOOGLE_API_URL": f"{sandbox_url}/google/calendar/v3",
        "AGENTCAL_GOOGLE_TOKEN_URL": f"{sandbox_url}/google/token",
    }
    # agentcal's app as `agentcal serve` runs it (uvicorn, one process), with the bare
    # FastAPI baseline of bench_server.py beside it in the same process.
    subprocess.run([*agentcal, "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench_server:create",
            "--app-dir",
            str(Path(__file__).parent),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    try:
        wait_ready(f"{sandbox_url}/sandbox/calcom/bookings")
        wait_ready(f"{api_url}/readyz")
        boot = bootstrap(env)
        api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {boot['token']}"})
        sandbox = httpx.Client(base_url=sandbox_url)
        bot = api.post("/api/v1/bots", json={"name": "Bench", "unitId": boot["unitId"]}).json()
        api.post(
            "/api/v1/calcom/integration",
            json={
                "title": "Demo",
                "unitId": boot["unitId"],
                "apiKey": "cal_sandbox_demo",
                "calcomUsername": "demo",
                "timezone": "America/Sao_Paulo",
                "prompt": "bench",
                "checkAvailabilityEnabled": True,
                "createBookingEnabled": True,
                "botId": bot["id"],
                "defaultEventTypeSlug": "30min",
            },
        ).raise_for_status()
        tool = api.get(f"/api/v1/bots/{bot['id']}/tools").json()["tools"][0]["function"]["name"]
        day = dt.date.today() + dt.timedelta(days=(7 - dt.date.today().weekday()) or 7)
        window = {"start": f"{day}T03:00:00Z", "end": f"{day + dt.timedelta(days=1)}T03:00:00Z"}
        calcom_headers = {"Authorization": "Bearer cal_sandbox_demo"}

        def event_type_id() -> str:
            types = sandbox.get(
                "/calcom/v2/event-types",
                params={"username": "demo"},
                headers={**calcom_headers, "cal-api-version": "2024-06-14"},
            )
            return str(types.json()["data"][0]["id"])

        cached_event_type = event_type_id()

        def direct() -> float:
            started = time.perf_counter()
            event_type = event_type_id() if args.cold else cached_event_type
            sandbox.get(
                "/calcom/v2/slots",
                params={
                    **window,
                    "timeZone": "America/Sao_Paulo",
                    "format": "range",
                    "eventTypeId": event_type,
                },
                headers={**calcom_headers, "cal-api-version": "2024-09-04"},
            ).raise_for_status()
            return time.perf_counter() - started

        bare_body = {
            **window,
            "timeZone": "America/Sao_Paulo",
            "eventTypeId": cached_event_type,
            "apiKey": "cal_sandbox_demo",
            "username": "demo" if args.cold else "",
        }

        def through_bare_fastapi() -> float:
            started = time.perf_counter()
            api.post("/bare/slots", json=bare_body).raise_for_status()
            return time.perf_counter() - started

        def through_agentcal(i: int) -> float:
            started = time.perf_counter()
            response = api.post(
                f"/api/v1/bots/{bot['id']}/tool-calls",
                json={
                    "toolCalls": [
                        {
                            "id": f"bench-{i}",
                            "name": tool,
                            "arguments": {"startDate": day.isoformat()},
                        }
                    ]
                },
            )
            elapsed = time.perf_counter() - started
            assert response.json()["results"][0]["ok"], response.text
            return elapsed

        for i in range(30):  # warm-up: connections, caches, lazy imports
            direct()
            through_bare_fastapi()
            through_agentcal(-1 - i)
        overheads, bare_overheads, directs, bares, tools = [], [], [], [], []
        for i in range(args.calls):
            a = direct()
            b = through_bare_fastapi()
            c = through_agentcal(i)
            directs.append(a)
            bares.append(b)
            tools.append(c)
            bare_overheads.append(b - a)
            overheads.append(c - a)
    finally:
        for process in (server, provider):
            process.terminate()
            process.wait()

    ms = 1000
    caches = "caches off" if args.cold else "caches on"
    print(
        f"{args.calls} alternating triples; agentcal on SQLite, one process, {caches}; "
        "sandbox 0 ms latency"
    )

    def line(label: str, values: list[float]) -> str:
        return (
            f"{label:28s}: p50 {statistics.median(values) * ms:6.2f} ms  "
            f"p99 {percentile(values, 0.99) * ms:6.2f} ms"
        )

    print(line("provider call direct", directs))
    print(line("through a bare FastAPI proxy", bares))
    print(line("tool call via agentcal", tools))
    print(line("bare proxy overhead", bare_overheads) + "   (the floor of FastAPI + httpx)")
    p50, p99 = statistics.median(overheads) * ms, percentile(overheads, 0.99) * ms
    verdict = "ok" if p50 <= 2 and p99 <= 10 else "BELOW BAR"
    print(line("agentcal overhead", overheads) + f"   (bars: p50 <= 2, p99 <= 10)  {verdict}")


if __name__ == "__main__":
    main()
