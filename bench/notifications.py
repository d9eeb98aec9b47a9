"""Notification delivery: deliveries per second, and the delay from due time to delivery.

No SPEC bar; the figures are for capacity planning. Measured in one run, configuration
after configuration (round after round):
* one `agentcal worker` process on PostgreSQL, two on PostgreSQL, one on SQLite;
* each worker with its default concurrency (16) and a 0.2 s poll;
* one Google Calendar function whose webhook target is a local receiver: a bare ASGI
  app under uvicorn in a process of its own, which answers 200 to every POST and
  records the `webhook-id` and arrival time of each.

Two phases per configuration, with the workers started anew and idle:
1. burst: N notifications written by `outbox.enqueue` in one transaction, all due at
   one instant shortly after the commit (so the delay is not charged with the time
   this script takes to write them). Deliveries/s = N / (last arrival - due time).
2. paced: notifications enqueued one per transaction, due at once, at a steady rate
   well under capacity (as tool calls write them): the delay an idle system adds.

The delay of a notification is its first arrival at the receiver minus its row's
`due_at` (one machine, one clock). Every run reports duplicates (a webhook-id that
arrived twice), missing ones and rows not marked delivered; all should be 0. CPU
seconds per process group are read from /proc to show what saturates, PostgreSQL's
session count shows connections opened, and each worker's exit code and the errors in
its log are reported (the log is kept when there are any).

`--analyze` runs ANALYZE on the outbox after each burst is written, so that PostgreSQL
plans the claim with statistics that know the burst (see bench/README.md for why the
plan matters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from support import AGENTCAL, bootstrap, free_port, wait_ready

BENCH = Path(__file__).resolve().parent
PG_SERVER = "postgres@127.0.0.1:5432"
STARTED_LINE = "delivering notifications from"
CONFIGURATIONS = {"pg1": ("pg", 1), "pg2": ("pg", 2), "sqlite1": ("sqlite", 1)}
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

# ------------------------------------------------------------------------ the receiver
# Run by uvicorn in its own process (`notifications:receiver`): POST records an
# arrival; GET /count says how many; GET /take hands them all over and forgets them.

_arrivals: list[tuple[str, float]] = []


async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    at = time.time()
    if scope["method"] == "POST":
        webhook_id = ""
        for name, value in scope["headers"]:
            if name == b"webhook-id":
                webhook_id = value.decode()
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        _arrivals.append((webhook_id, at))
        body = b""
    elif scope["path"] == "/take":
        body = json.dumps(_arrivals).encode()
        _arrivals.clear()
    else:
        body = str(len(_arrivals)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------ processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def backend_pids(database_name: str) -> list[int]:
    """The PostgreSQL server processes serving `database_name` (their titles name it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and f" {database_name} " in title:
                pids.append(int(entry.name))
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICK, total / CLOCK_TICK


@dataclass
class CpuMark:
    groups: dict[str, dict[int, float]]
    machine: tuple[float, float]


def cpu_mark(groups: dict[str, list[int]]) -> CpuMark:
    return CpuMark(
        {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in groups.items()},
        machine_busy(),
    )


def cpu_used(before: CpuMark, after: CpuMark) -> dict[str, float]:
    used = {}
    for name, pids in after.groups.items():
        used[name] = sum(t - before.groups[name].get(pid, 0.0) for pid, t in pids.items())
    busy, total = (a - b for a, b in zip(after.machine, before.machine, strict=True))
    used["machine busy %"] = 100 * busy / total if total else 0.0
    return used


Workers = tuple[list[subprocess.Popen[bytes]], list[Path]]


def start_workers(env: dict[str, str], count: int, logs: Path) -> Workers:
    """`count` `agentcal worker` processes and their logs, once each has said it started."""
    workers: list[subprocess.Popen[bytes]] = []
    paths: list[Path] = []
    for i in range(count):
        path = logs / f"worker-{time.monotonic_ns()}-{i}.log"
        paths.append(path)
        with path.open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [*AGENTCAL, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=log
                )
            )
    deadline = time.monotonic() + 60
    try:
        for worker, path in zip(workers, paths, strict=True):
            while STARTED_LINE not in path.read_text(errors="replace"):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start:\n{path.read_text()}")
                time.sleep(0.05)
    except BaseException:
        stop_workers(workers)
        raise
    return workers, paths


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> list[int]:
    """Stop them as an operator would (SIGTERM; killed after 30 s); their exit codes."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return [worker.returncode for worker in workers]


ERROR_MARKS = ('"level": "error"', '"level": "critical"', "Task exception was never retrieved")


def log_errors(paths: list[Path]) -> int:
    """Errors the workers logged (JSON lines at error level, and tasks that died)."""
    return sum(
        1
        for path in paths
        for line in path.read_text(errors="replace").splitlines()
        if any(mark in line for mark in ERROR_MARKS)
    )


# ------------------------------------------------------------------------ databases


@dataclass
class Database:
    label: str
    url: str
    env: dict[str, str]
    engine: Any = None
    keyring: Any = None
    origin: dict[str, Any] = field(default_factory=dict)


async def prepare(database: Database, target: str, key: str) -> None:
    """Migrate, bootstrap, and create the Google function whose webhook is `target`."""
    from agentcal.crypto.keyring import Keyring
    from agentcal.db.engine import create_engine, create_sessionmaker, session_scope
    from agentcal.providers.google_calendar import service
    from agentcal.providers.google_calendar.schemas import FunctionCreate
    from agentcal.providers.google_calendar.tools import KIND

    def migrate_and_bootstrap() -> dict[str, Any]:
        subprocess.run([*AGENTCAL, "migrate"], env=database.env, check=True, capture_output=True)
        return bootstrap(database.env)

    boot = await asyncio.to_thread(migrate_and_bootstrap)
    database.keyring = Keyring.from_text(key)
    database.engine = create_engine(database.url)
    body = FunctionCreate.model_validate(
        {
            "name": "Google Calendar",
            "description": "Book consultations in the clinic's calendar.",
            "type": "google-calendar",
            "userId": boot["userId"],
            "unityId": boot["unitId"],
            "googleCalendar": {
                "googleId": "100000000000000000001",
                "calendarId": "bench@example.com",
                "timezone": "America/Sao_Paulo",
                "googleUser": {
                    "id": "100000000000000000001",
                    "email": "bench@example.com",
                    "verified_email": True,
                    "name": "Bench Clinic",
                    "given_name": "Bench",
                    "family_name": "Clinic",
                    "picture": None,
                    "hd": "example.com",
                },
                "googleToken": "ya29.bench-access-token-not-used",
                "notificationType": "webhook",
                "notificationContentType": "text",
                "notificationTarget": target,
            },
        }
    )
    institution = uuid.UUID(boot["institutionId"])
    async with session_scope(create_sessionmaker(database.engine)) as session:
        function = await service.create_function(
            session, database.keyring, institution, body, allow_private=True
        )
    database.origin = {"institution_id": institution, "function_kind": KIND, "id": function.id}


def notification(number: int) -> Any:
    from agentcal.notifications.events import BookingFacts, Notification

    start = datetime(2026, 12, 7, 13, 0, tzinfo=UTC) + timedelta(minutes=30 * (number % 500))
    facts = BookingFacts(
        booking_id=f"bench-{number}",
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="America/Sao_Paulo",
        attendee_name="Maria Silva",
        attendee_email="maria.silva@example.com",
        title="Consultation",
    )
    return Notification("booking.created", "webhook", "text", 0, 0, booking=facts)


async def enqueue(database: Database, batch: uuid.UUID, at: datetime, count: int) -> None:
    """`count` notifications in one transaction, due at `at`, tagged with `batch`."""
    from agentcal.notifications import outbox

    origin = outbox.Origin(
        database.origin["institution_id"],
        database.origin["function_kind"],
        database.origin["id"],
        batch,
        at,
    )
    notifications = [notification(i) for i in range(count)]
    async with database.engine.begin() as connection:
        await outbox.enqueue(
            connection, database.keyring, origin, notifications, give_up_after=86_400
        )


async def rows_of(database: Database, batch: uuid.UUID) -> dict[str, tuple[float, str, int]]:
    """webhook-id → (due time, status, attempts) of the batch's rows. The due time is
    the one written, `created_at` plus a delay of 0: a retry moves `due_at` later."""
    from sqlalchemy import select

    from agentcal.notifications.models import NotificationRecord as Row

    query = select(Row.id, Row.created_at, Row.due_at, Row.status, Row.attempts).where(
        Row.tool_call_id == batch
    )
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    for row in rows:
        if row.attempts <= 1:
            assert row.due_at == row.created_at, "the bench writes notifications due at once"
    return {f"msg_{r.id.hex}": (r.created_at.timestamp(), r.status, r.attempts) for r in rows}


# ------------------------------------------------------------------------ measuring


@dataclass
class Phase:
    sent: int = 0
    rate: float = 0.0  # deliveries per second (burst only)
    delays: list[float] = field(default_factory=list)
    duplicates: int = 0
    missing: int = 0
    not_delivered: int = 0
    retried: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    lead: float = 0.0  # seconds between the commit and the due time (burst only)
    connections: int | None = None  # PostgreSQL sessions opened meanwhile (burst only)
    held: int = 0  # the most rows seen claimed (leased) at once (burst only)
    stray: int = 0  # arrivals of notifications from an earlier phase


async def sessions_opened(database: Database) -> int | None:
    """PostgreSQL's count of sessions ever opened to the database (None on SQLite)."""
    from sqlalchemy import text

    if database.engine.dialect.name != "postgresql":
        return None
    query = text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
    async with database.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def watch_claims(database: Database, phase: Phase, done: asyncio.Event) -> None:
    """Sample how many rows the workers hold claimed, until `done`; keep the maximum."""
    from sqlalchemy import func, select

    from agentcal.notifications.models import NotificationRecord as Row

    query = select(func.count()).where(Row.status == "pending", Row.lease_expires_at > func.now())
    while not done.is_set():
        async with database.engine.connect() as connection:
            phase.held = max(phase.held, int((await connection.execute(query)).scalar_one()))
        try:
            await asyncio.wait_for(done.wait(), 0.25)
        except TimeoutError:
            pass


@dataclass
class Run:
    label: str
    burst: Phase
    paced: Phase | None = None
    exit_codes: list[int] = field(default_factory=list)
    errors: int = 0
    kept_logs: Path | None = None


STALLED = 45.0  # seconds without an arrival: the workers have stopped delivering


async def wait_arrivals(client: httpx.AsyncClient, expected: int) -> None:
    """Until `expected` have arrived, or none has for `STALLED` seconds."""
    count, progress = 0, time.monotonic()
    while count < expected:
        if time.monotonic() - progress > STALLED:
            return  # the rest is reported as missing
        await asyncio.sleep(0.1)
        now = int((await client.get("/count")).text)
        if now > count:
            count, progress = now, time.monotonic()
    await asyncio.sleep(0.5)  # room for a duplicate to show


async def settle(
    client: httpx.AsyncClient, database: Database, batch: uuid.UUID, phase: Phase
) -> None:
    arrivals: list[tuple[str, float]] = json.loads((await client.get("/take")).content)
    rows = await rows_of(database, batch)
    counts = Counter(webhook_id for webhook_id, _ in arrivals)
    first: dict[str, float] = {}
    for webhook_id, at in arrivals:
        first[webhook_id] = min(at, first.get(webhook_id, at))
    phase.sent = len(rows)
    phase.duplicates = sum(n - 1 for w, n in counts.items() if w in rows)
    phase.missing = sum(1 for w in rows if w not in first)
    phase.not_delivered = sum(1 for _, status, _ in rows.values() if status != "delivered")
    phase.retried = sum(1 for _, _, attempts in rows.values() if attempts > 1)
    phase.delays = [first[w] - due for w, (due, _, _) in rows.items() if w in first]
    # A notification of an earlier phase sent again now: a duplicate, counted here.
    phase.stray = sum(n for w, n in counts.items() if w not in rows)


def writing_seconds(count: int) -> float:
    """About how long `enqueue` takes to write `count` notifications here (rendering and
    sealing each document is most of it), measured on a few."""
    from agentcal.crypto.keyring import Keyring, generate_key
    from agentcal.notifications import outbox
    from agentcal.notifications.models import PAYLOAD, NotificationRecord

    origin = outbox.Origin(uuid.uuid4(), "bench", uuid.uuid4(), None, datetime.now(UTC))
    keyring = Keyring.from_text(generate_key())
    sample = [notification(i) for i in range(50)]
    started = time.perf_counter()
    for item in sample:
        PAYLOAD.seal(keyring, NotificationRecord(), json.dumps(outbox.document(origin, item)))
    return (time.perf_counter() - started) / len(sample) * count


async def burst(
    client: httpx.AsyncClient,
    database: Database,
    count: int,
    groups: dict[str, list[int]],
    writing: float,
    analyze: bool,
) -> Phase:
    from sqlalchemy import text

    phase = Phase()
    batch = uuid.uuid4()
    lead = 0.5 + 2 * writing  # the commit must land before the due time
    due = datetime.now(UTC) + timedelta(seconds=lead)
    await enqueue(database, batch, due, count)
    if analyze and database.engine.dialect.name == "postgresql":
        async with database.engine.begin() as connection:
            await connection.execute(text("ANALYZE notifications"))
    phase.lead = (due - datetime.now(UTC)).total_seconds()
    if phase.lead <= 0:
        raise SystemExit(f"writing {count} notifications took longer than {lead:.1f} s")
    await asyncio.sleep(max(0.0, phase.lead - 1.0))
    opened = await sessions_opened(database)
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 0.05))
    backends = database.url.rsplit("/", 1)[1]
    before = cpu_mark(groups | {"postgres": backend_pids(backends)})
    done = asyncio.Event()
    watching = asyncio.create_task(watch_claims(database, phase, done))
    await wait_arrivals(client, count)
    after = cpu_mark(groups | {"postgres": backend_pids(backends)})
    done.set()
    await watching
    await settle(client, database, batch, phase)
    if opened is not None:
        await asyncio.sleep(1.0)  # PostgreSQL publishes its counters about every second
        phase.connections = (await sessions_opened(database) or 0) - opened
    phase.cpu = cpu_used(before, after)
    if phase.delays:
        phase.rate = len(phase.delays) / max(phase.delays)
    return phase


async def paced(
    client: httpx.AsyncClient, database: Database, rate: float, seconds: float
) -> Phase:
    phase = Phase()
    batch = uuid.uuid4()
    count = int(rate * seconds)
    started = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await enqueue(database, batch, datetime.now(UTC), 1)
    await wait_arrivals(client, count)
    await settle(client, database, batch, phase)
    return phase


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ------------------------------------------------------------------------ main


async def run(args: argparse.Namespace, workdir: Path, pg_name: str) -> list[Run]:
    from agentcal.crypto.keyring import generate_key

    key = generate_key()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    base |= {
        "AGENTCAL_SECRET_KEYS": key,
        "AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE": "true",
        "AGENTCAL_NOTIFICATION_POLL_SECONDS": str(args.poll),
        "AGENTCAL_NOTIFICATION_CONCURRENCY": str(args.concurrency),
        "AGENTCAL_LOG_LEVEL": args.log_level,
    }
    pg_url = f"postgresql+asyncpg://{PG_SERVER}/{pg_name}"
    sqlite_dir = workdir / "sqlite"
    sqlite_dir.mkdir()
    sqlite_url = f"sqlite+agentcal:///{sqlite_dir}/agentcal.db"
    databases = {
        "pg": Database(
            "PostgreSQL",
            pg_url,
            base | {"AGENTCAL_DATABASE_URL": pg_url, "AGENTCAL_DATA_DIR": str(workdir / "pg")},
        ),
        "sqlite": Database(
            "SQLite",
            sqlite_url,
            base | {"AGENTCAL_DATABASE_URL": sqlite_url, "AGENTCAL_DATA_DIR": str(sqlite_dir)},
        ),
    }
    configurations = [CONFIGURATIONS[name] for name in args.only]

    port = free_port()
    receiver_process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "notifications:receiver",
            "--app-dir",
            str(BENCH),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ],
        env=base,
    )
    runs: list[Run] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}/count")
        target = f"http://127.0.0.1:{port}/hooks/bench"
        used = [databases[name] for name in dict.fromkeys(name for name, _ in configurations)]
        await asyncio.gather(*(prepare(d, target, key) for d in used))
        writing = writing_seconds(args.notifications)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
        for round_number in range(1, args.rounds + 1):
            for name, count in configurations:
                database = databases[name]
                label = f"{database.label} x{count}"
                say(f"round {round_number}: {label}: starting workers")
                workers, logs = start_workers(database.env, count, workdir)
                try:
                    await asyncio.sleep(1.0)  # listeners connected, first look done: idle
                    groups = {
                        "workers": [w.pid for w in workers],
                        "receiver": [receiver_process.pid],
                        "bench": [os.getpid()],
                    }
                    say(f"round {round_number}: {label}: burst of {args.notifications}")
                    phase = await burst(
                        client, database, args.notifications, groups, writing, args.analyze
                    )
                    measured = Run(label, phase)
                    if args.paced_seconds > 0:
                        say(f"round {round_number}: {label}: paced at {args.paced_rate:g}/s")
                        measured.paced = await paced(
                            client, database, args.paced_rate, args.paced_seconds
                        )
                finally:
                    codes = stop_workers(workers)
                measured.exit_codes = codes
                measured.errors = log_errors(logs)
                if measured.errors or any(codes):
                    kept = Path(tempfile.mkdtemp(prefix="agentcal-bench-logs-"))
                    for path in logs:
                        shutil.copy(path, kept)
                    measured.kept_logs = kept
                runs.append(measured)
        await client.aclose()
    finally:
        receiver_process.terminate()
        receiver_process.wait()
        for database in databases.values():
            if database.engine is not None:
                await database.engine.dispose()
    return runs


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    ms = 1000
    print(
        f"{args.notifications} notifications per burst; paced: {args.paced_rate:g}/s for "
        f"{args.paced_seconds:g} s; worker concurrency {args.concurrency}, poll "
        f"{args.poll:g} s, log level {args.log_level}; {os.cpu_count()} CPUs; "
        f"{args.rounds} round(s)" + ("; outbox ANALYZEd after each burst" if args.analyze else "")
    )
    print()
    header = (
        f"{'configuration':22s} {'sent':>5s} {'deliv/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'max ms':>8s} {'dup':>4s} {'miss':>4s} {'!deliv':>6s} {'retry':>5s}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        for kind, p in (("burst", r.burst), ("paced", r.paced)):
            if p is None:
                continue
            rate = f"{p.rate:8.0f}" if p.rate else f"{'':8s}"
            print(
                f"{r.label + ' ' + kind:22s} {p.sent:5d} {rate} "
                f"{statistics.median(p.delays or [0]) * ms:8.1f} "
                f"{percentile(p.delays, 0.99) * ms:8.1f} {max(p.delays or [0]) * ms:8.1f} "
                f"{p.duplicates:4d} {p.missing:4d} {p.not_delivered:6d} {p.retried:5d}"
            )
    print()
    print("During each burst: CPU ms per delivery (wall: ms per delivery at the rate above);")
    print("postgres: its backends alive at the end; PG sessions: connections opened;")
    print("held: the most rows seen claimed at once (a claim takes up to --concurrency)")
    header = (
        f"{'configuration':22s} {'wall':>6s} {'workers':>8s} {'receiver':>8s} "
        f"{'postgres':>8s} {'bench':>6s} {'machine busy':>13s} {'PG sessions':>12s} "
        f"{'held':>5s}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        p = r.burst
        n = max(1, len(p.delays))
        postgres = "-" if p.connections is None else f"{p.cpu['postgres'] * ms / n:.2f}"
        print(
            f"{r.label:22s} {ms / p.rate if p.rate else 0:6.2f} "
            f"{p.cpu['workers'] * ms / n:8.2f} {p.cpu['receiver'] * ms / n:8.2f} "
            f"{postgres:>8s} {p.cpu['bench'] * ms / n:6.2f} "
            f"{p.cpu['machine busy %']:12.0f}% "
            f"{'-' if p.connections is None else p.connections:>12} {p.held:5d}"
        )
    print()
    for r in runs:
        logs = f"; logs kept in {r.kept_logs}" if r.kept_logs else ""
        stray = sum(p.stray for p in (r.burst, r.paced) if p is not None)
        print(
            f"{r.label:22s} worker exit codes {r.exit_codes}, errors logged: {r.errors}, "
            f"earlier notifications sent again: {stray}{logs}"
        )
    phases = [p for r in runs for p in (r.burst, r.paced) if p is not None]
    bad = sum(p.duplicates + p.missing + p.not_delivered + p.stray for p in phases)
    bad += sum(r.errors + sum(1 for code in r.exit_codes if code) for r in runs)
    print()
    print("every notification delivered exactly once, no errors" if not bad else "PROBLEMS above")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=2000, help="per burst")
    parser.add_argument("--rounds", type=int, default=1, help="of all configurations")
    parser.add_argument("--paced-rate", type=float, default=25, help="notifications/s")
    parser.add_argument("--paced-seconds", type=float, default=4, help="0: no paced phase")
    parser.add_argument("--concurrency", type=int, default=16, help="per worker")
    parser.add_argument("--poll", type=float, default=0.2, help="worker poll, seconds")
    parser.add_argument("--log-level", default="WARNING", help="of the workers")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the outbox on PostgreSQL after writing a burst (see bench/README.md)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(CONFIGURATIONS),
        default=list(CONFIGURATIONS),
        help="configurations to measure (default: all)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="agentcal-bench-"))
    pg_name = f"agentcal_bench_{uuid.uuid4().hex[:12]}"
    user, server = PG_SERVER.split("@")
    host, port = server.split(":")
    pg = ["-h", host, "-p", port, "-U", user]
    subprocess.run(["createdb", *pg, pg_name], check=True)
    try:
        runs = asyncio.run(run(args, workdir, pg_name))
    finally:
        subprocess.run(["dropdb", *pg, "--if-exists", "--force", pg_name], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, runs)


if __name__ == "__main__":
    main()
