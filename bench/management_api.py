"""Management API throughput against a bare FastAPI route, start time and idle memory.

Prints figures against the performance bars:
* an authenticated GET by id reaches >= 40 % of the throughput of a bare FastAPI
  "hello" route served by the same server in the same run;
* idle `agentcal serve` RSS <= 150 MB; start to first /readyz 200 <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from support import bootstrap, free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def wrk(url: str, token: str | None, seconds: int) -> float:
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url} answered {non_2xx.group(1)} errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def python_load(url: str, token: str | None, seconds: int) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            done += 1

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(16)))
        return done / (time.perf_counter() - start)


def load(url: str, token: str | None, seconds: int) -> float:
    if shutil.which("wrk"):
        return wrk(url, token, seconds)
    return asyncio.run(python_load(url, token, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    parser.add_argument(
        "--database-url",
        help="e.g. postgresql+asyncpg://postgres@127.0.0.1/bench (default: SQLite)",
    )
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
    if args.database_url:
        env["AGENTCAL_DATABASE_URL"] = args.database_url
    agentcal = [sys.executable, "-m", "agentcal"]

    # 1. Start-up and idle memory of the real `agentcal serve`, first start included.
    port = free_port()
    started = time.perf_counter()
    serve = subprocess.Popen(
        [*agentcal, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        first_start = time.perf_counter() - started
        time.sleep(1)
        idle_rss = rss_mb(serve.pid)
    finally:
        serve.terminate()
        serve.wait()
    started = time.perf_counter()
    serve = subprocess.Popen(
        [*agentcal, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        warm_start = time.perf_counter() - started
    finally:
        serve.terminate()
        serve.wait()

    # 2. Throughput, side by side in one server process.
    boot = bootstrap(env)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench_server:create",
            "--app-dir",
            str(ROOT / "bench"),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz")
        body = {
            "title": "Calcom",
            "unitId": boot["unitId"],
            "apiKey": "cal_live_bench",
            "calcomUsername": "bench",
            "timezone": "UTC",
            "prompt": "bench",
            "checkAvailabilityEnabled": True,
            "createBookingEnabled": True,
        }
        created = httpx.post(
            f"{base}/api/v1/calcom/integration",
            json=body,
            headers={"Authorization": f"Bearer {boot['token']}"},
        )
        created.raise_for_status()
        get_url = f"{base}/api/v1/calcom/integration/{created.json()['id']}"
        load(f"{base}/bare/hello", None, 1)  # warm-up
        load(get_url, boot["token"], 1)
        hello, get = [], []
        for _ in range(args.rounds):
            hello.append(load(f"{base}/bare/hello", None, args.seconds))
            get.append(load(get_url, boot["token"], args.seconds))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)

    generator = "wrk -t1 -c16" if shutil.which("wrk") else "python httpx, 16 connections"
    ratio = statistics.median(get) / statistics.median(hello)
    database = args.database_url.split("://")[0] if args.database_url else "SQLite (embedded)"
    rounds = f"{args.rounds} rounds of {args.seconds} s"
    print(f"database: {database}; load generator: {generator}; {rounds}")
    print(f"bare FastAPI hello        : {statistics.median(hello):8.0f} req/s  {hello}")
    print(f"authenticated GET by id   : {statistics.median(get):8.0f} req/s  {get}")
    verdict = "ok" if ratio >= 0.40 else "BELOW BAR"
    print(f"ratio GET/hello           : {ratio:8.1%}  (bar >= 40 %)  {verdict}")
    print(f"first start to /readyz    : {first_start:8.2f} s    (bar <= 2 s, includes migrations)")
    print(f"warm start to /readyz     : {warm_start:8.2f} s    (bar <= 2 s)")
    print(f"idle RSS of agentcal serve: {idle_rss:8.1f} MB   (bar <= 150 MB)")


if __name__ == "__main__":
    main()
