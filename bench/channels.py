"""What a voice hook adds to a tool call: Vapi's `tool-calls` against `POST …/tool-calls`.

Side by side, alternating, in one run, against one `agentcal serve` (SQLite, one
process) and the Cal.com sandbox in a process of its own:
1. a `check_availability` call through the REST API (`POST /api/v1/bots/{id}/tool-calls`,
   Bearer access token, a call id);
2. the same call as Vapi sends it to the bot's Vapi channel (`POST /hooks/vapi/{id}`,
   `X-Vapi-Secret`, the message Vapi posts: the call listed twice, the call object and
   the transcript so far; body from tests/runtime/channels/fixtures/vapi/tool-calls.json),
   answered in Vapi's `results` shape.
Each call has an id of its own, so both sides claim a key, call the provider, write the
audit record and store the result. The hook's overhead is its difference to (1) in the
same round: a bigger body to parse, the channel and its secret to check, the answer
written for the ear.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from support import AGENTCAL, bootstrap, free_port, wait_ready

FIXTURE = Path(__file__).parent.parent / "tests/runtime/channels/fixtures/vapi/tool-calls.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def vapi_message(call_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text())
    body.pop("_source")
    message = body["message"]
    call = {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}
    message["toolCallList"] = [call]
    message["toolWithToolCallList"][0]["function"]["name"] = tool
    message["toolWithToolCallList"][0]["toolCall"] = copy.deepcopy(call)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="pairs to measure")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="agentcal-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    env |= {"AGENTCAL_DATA_DIR": str(data_dir), "AGENTCAL_LOG_LEVEL": "WARNING"}
    # Counted against the rate limits, as in production, but never refused.
    env |= {
        "AGENTCAL_RATE_LIMIT_PER_TOKEN": "1000000/minute",
        "AGENTCAL_RATE_LIMIT_PER_BOT": "1000000/minute",
    }
    port, sandbox_port = free_port(), free_port()
    api_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    provider = subprocess.Popen(
        [*AGENTCAL, "sandbox", "--port", str(sandbox_port)], env=env, stderr=subprocess.DEVNULL
    )
    env |= {
        "AGENTCAL_CALCOM_API_URL": f"{sandbox_url}/calcom",
        "AGENTCAL_GOOGLE_API_URL": f"{sandbox_url}/google/calendar/v3",
        "AGENTCAL_GOOGLE_TOKEN_URL": f"{sandbox_url}/google/token",
    }
    server = subprocess.Popen([*AGENTCAL, "serve", "--port", str(port)], env=env)
    try:
        wait_ready(f"{sandbox_url}/sandbox/calcom/bookings")
        wait_ready(f"{api_url}/readyz")
        boot = bootstrap(env)
        api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {boot['token']}"})
        platform = httpx.Client(base_url=api_url)
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
        channel = api.post(
            f"/api/v1/bots/{bot['id']}/channels", json={"platform": "vapi", "name": "Bench"}
        )
        channel.raise_for_status()
        hook = channel.json()["url"].removeprefix(api_url)
        secret = {"X-Vapi-Secret": channel.json()["secret"]}
        tool = api.get(f"/api/v1/bots/{bot['id']}/tools").json()["tools"][0]["function"]["name"]
        day = dt.date.today() + dt.timedelta(days=(7 - dt.date.today().weekday()) or 7)
        arguments = {"startDate": day.isoformat()}

        def through_rest(i: int) -> float:
            body = {"toolCalls": [{"id": f"rest-{i}", "name": tool, "arguments": arguments}]}
            started = time.perf_counter()
            response = api.post(f"/api/v1/bots/{bot['id']}/tool-calls", json=body)
            elapsed = time.perf_counter() - started
            assert response.json()["results"][0]["ok"], response.text
            return elapsed

        def through_vapi(i: int) -> float:
            body = vapi_message(f"call_vapi_{i}", tool, arguments)
            started = time.perf_counter()
            response = platform.post(hook, json=body, headers=secret)
            elapsed = time.perf_counter() - started
            assert "result" in response.json()["results"][0], response.text
            return elapsed

        for i in range(30):  # warm-up: connections, caches, lazy imports
            through_rest(-1 - i)
            through_vapi(-1 - i)
        rests, hooks, added = [], [], []
        for i in range(args.calls):
            # Alternate which goes first, so neither always follows the other's writes.
            if i % 2:
                b, a = through_vapi(i), through_rest(i)
            else:
                a, b = through_rest(i), through_vapi(i)
            rests.append(a)
            hooks.append(b)
            added.append(b - a)
    finally:
        for process in (server, provider):
            process.terminate()
            process.wait()

    ms = 1000

    def line(label: str, values: list[float]) -> str:
        return (
            f"{label:30s}: p50 {statistics.median(values) * ms:6.2f} ms  "
            f"p95 {percentile(values, 0.95) * ms:6.2f} ms  "
            f"p99 {percentile(values, 0.99) * ms:6.2f} ms"
        )

    print(f"{args.calls} alternating pairs; agentcal serve on SQLite, one process; sandbox 0 ms")
    print(line("REST tool call", rests))
    print(line("Vapi hook, same call", hooks))
    print(line("added by the hook", added))


if __name__ == "__main__":
    main()
