"""The `agentcal` commands, run against the suite's database (and one real `serve`)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from agentcal import __version__
from agentcal.cli import app as cli
from agentcal.crypto.keyring import Keyring, generate_key, parse_key
from agentcal.db import migrate
from agentcal.db.engine import create_engine, session_scope
from agentcal.providers.calcom.models import API_KEY, CalcomIntegration
from agentcal.providers.google_calendar.models import GOOGLE_TOKEN, GoogleCalendarPlugin
from agentcal.settings import Settings
from agentcal.tenancy.models import Institution
from tests.factories import (
    CALCOM_API_KEY,
    GOOGLE_ACCESS_TOKEN,
    Tenant,
    calcom_body,
    google_function_body,
)
from tests.support import free_port

runner = CliRunner()


@pytest.fixture
def env(database_url: str, secret_key: str, data_dir: Path, engine: AsyncEngine) -> dict[str, str]:
    """The environment that points the CLI at the suite's (already migrated) database."""
    return {
        "AGENTCAL_DATABASE_URL": database_url,
        "AGENTCAL_SECRET_KEYS": secret_key,
        "AGENTCAL_DATA_DIR": str(data_dir),
    }


def run(env: Mapping[str, str | None], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def bootstrap(env: dict[str, str], institution: str = "Acme") -> dict[str, str]:
    code, out, _ = run(
        env,
        "admin",
        "bootstrap",
        "--institution",
        institution,
        "--unit",
        "Sales",
        "--user",
        "ana@acme.test",
        "--json",
    )
    assert code == 0
    return json.loads(out)


async def get_me(app: FastAPI, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return await c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


async def test_bootstrap_json_prints_one_object_whose_token_works(
    env: dict[str, str], app: FastAPI
) -> None:
    code, out, _ = await asyncio.to_thread(
        run,
        env,
        "admin",
        "bootstrap",
        "--institution",
        "Acme",
        "--unit",
        "Sales",
        "--user",
        "Ana@Acme.test",
        "--json",
    )
    assert code == 0
    assert out.count("\n") == 1
    result = json.loads(out)
    assert set(result) == {"institutionId", "unitId", "userId", "token"}
    me = await get_me(app, result["token"])
    assert me.status_code == 200
    assert me.json()["id"] == result["userId"]
    assert me.json()["role"] == "admin"
    assert me.json()["email"] == "ana@acme.test"


async def test_bootstrap_twice_reuses_the_institution_and_adds_a_token(
    env: dict[str, str], app: FastAPI
) -> None:
    first = await asyncio.to_thread(bootstrap, env)
    second = await asyncio.to_thread(bootstrap, env)
    assert {k: first[k] for k in ("institutionId", "unitId", "userId")} == {
        k: second[k] for k in ("institutionId", "unitId", "userId")
    }
    assert first["token"] != second["token"]
    async with session_scope(app.state.sessionmaker) as session:
        count = await session.scalar(select(func.count()).select_from(Institution))
    assert count == 1
    assert (await get_me(app, first["token"])).status_code == 200
    assert (await get_me(app, second["token"])).status_code == 200


def test_bootstrap_without_json_prints_the_ids_and_token(env: dict[str, str]) -> None:
    code, out, err = run(
        env, "admin", "bootstrap", "--institution", "Acme", "--unit", "Sales", "--user", "a@b.test"
    )
    assert code == 0
    assert "token" in out
    assert "agc_" in out
    assert "shown only now" in err


def test_bootstrap_refuses_an_invalid_email(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "admin", "bootstrap", "--institution", "Acme", "--unit", "Sales", "--user", "nobody"
    )
    assert code == 2
    assert "e-mail" in err


def test_bootstrap_refuses_an_email_that_lowercasing_makes_too_long(env: dict[str, str]) -> None:
    # 'İ' lowercases to two characters: 134 characters become 264, past the column.
    code, _, err = run(
        env,
        "admin",
        "bootstrap",
        "--institution",
        "Acme",
        "--unit",
        "Sales",
        "--user",
        "İ" * 130 + "@a.bc",
    )
    assert code == 2
    assert "--user must be 1-254 characters" in err


async def test_tokens_create_issues_a_working_token(env: dict[str, str], app: FastAPI) -> None:
    await asyncio.to_thread(bootstrap, env)
    before = datetime.now(UTC)
    code, out, _ = await asyncio.to_thread(
        run,
        env,
        "tokens",
        "create",
        "--user",
        "ana@acme.test",
        "--name",
        "voice-bot",
        "--expires-in-days",
        "30",
        "--json",
    )
    after = datetime.now(UTC)
    assert code == 0
    issued = json.loads(out)
    assert issued["name"] == "voice-bot"
    assert issued["state"] == "active"
    # Thirty days from the moment of issue (printed to the millisecond, hence the slack).
    expires_at = datetime.fromisoformat(issued["expiresAt"])
    thirty_days = timedelta(days=30)
    assert before + thirty_days - timedelta(milliseconds=1) <= expires_at <= after + thirty_days
    # ... and that is what was stored: the listing reads it back from the database.
    _, listed, _ = await asyncio.to_thread(run, env, "tokens", "list", "--json")
    stored = {token["id"]: token["expiresAt"] for token in json.loads(listed)}
    assert stored[issued["id"]] == issued["expiresAt"]
    assert (await get_me(app, issued["token"])).status_code == 200


def test_version_is_printed_and_nothing_else_runs(env: dict[str, str]) -> None:
    code, out, _ = run(env, "--version")
    assert code == 0
    assert out.strip() == f"agentcal {__version__}"


def test_tokens_create_for_an_unknown_user_says_what_to_do(env: dict[str, str]) -> None:
    code, _, err = run(env, "tokens", "create", "--user", "ghost@acme.test")
    assert code == 1
    assert "agentcal admin bootstrap" in err


def test_tokens_list_shows_tokens_but_never_their_secret(env: dict[str, str]) -> None:
    token = bootstrap(env)["token"]
    code, out, _ = run(env, "tokens", "list")
    assert code == 0
    assert "ana@acme.test" in out
    assert "bootstrap" in out
    assert token not in out
    code, out, _ = run(env, "tokens", "list", "--json")
    listed = json.loads(out)
    assert len(listed) == 1
    assert listed[0]["state"] == "active"
    assert "token" not in listed[0]
    assert token.startswith(listed[0]["prefix"])


async def test_tokens_revoke_makes_the_token_fail(env: dict[str, str], app: FastAPI) -> None:
    token = (await asyncio.to_thread(bootstrap, env))["token"]
    _, out, _ = await asyncio.to_thread(run, env, "tokens", "list", "--json")
    token_id = json.loads(out)[0]["id"]
    code, _, err = await asyncio.to_thread(run, env, "tokens", "revoke", token_id)
    assert code == 0
    assert "revoked" in err
    response = await get_me(app, token)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_tokens_revoke_rejects_bad_and_unknown_ids(env: dict[str, str]) -> None:
    assert run(env, "tokens", "revoke", "not-a-uuid")[0] == 2
    code, _, err = run(env, "tokens", "revoke", str(uuid.uuid4()))
    assert code == 1
    assert "no token" in err


async def test_migrate_brings_the_database_to_head(
    env: dict[str, str], engine: AsyncEngine
) -> None:
    code, _, _ = await asyncio.to_thread(run, env, "migrate")
    assert code == 0
    assert await migrate.current_revision(engine) == migrate.head_revision()


# No AGENTCAL_* variable at all (CliRunner removes those set to None): the defaults.
UNCONFIGURED: dict[str, str | None] = {
    f"AGENTCAL_{name.upper()}": None for name in Settings.model_fields
}

# Every command that reads or writes the database, save `serve` and `migrate`.
DATABASE_COMMANDS = [
    ("tokens", "list"),
    ("tokens", "create", "--user", "ana@acme.test"),
    ("tokens", "revoke", "0b7e3c62-6a8e-4c0c-9f51-5f3a6c1d2e4f"),
    ("admin", "bootstrap", "--institution", "Acme", "--unit", "Sales", "--user", "ana@acme.test"),
    ("admin", "rotate-keys"),
]


def assert_says_how_to_find_the_database(err: str) -> None:
    for hint in (
        "agentcal serve",
        "AGENTCAL_DATA_DIR",
        "AGENTCAL_DATABASE_URL",
        "agentcal migrate",
    ):
        assert hint in err


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_a_command_run_where_there_is_no_database_refuses_and_creates_nothing(
    command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(UNCONFIGURED, *command)
    assert code == 1
    looked_at = tmp_path.resolve() / ".agentcal" / "agentcal.db"
    assert f"no agentcal database at {looked_at}" in err
    assert "AGENTCAL_DATA_DIR is not set" in err
    assert_says_how_to_find_the_database(err)
    assert list(tmp_path.iterdir()) == []  # no data dir, no database, no key file


def test_the_refusal_names_the_data_dir_it_was_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "elsewhere"
    code, _, err = run({**UNCONFIGURED, "AGENTCAL_DATA_DIR": str(data_dir)}, "tokens", "list")
    assert code == 1
    assert f"no agentcal database at {data_dir / 'agentcal.db'}" in err
    assert "from AGENTCAL_DATA_DIR" in err
    assert not data_dir.exists()


def test_a_sqlite_file_uri_naming_no_file_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    url = f"sqlite+agentcal:///file:{missing}?mode=rwc&uri=true"
    env = {**UNCONFIGURED, "AGENTCAL_DATABASE_URL": url, "AGENTCAL_DATA_DIR": str(tmp_path)}
    code, _, err = run(env, "tokens", "list")
    assert code == 1
    assert f"no agentcal database at {missing} (from AGENTCAL_DATABASE_URL)" in err
    assert list(tmp_path.iterdir()) == []


async def test_a_database_url_naming_no_database_is_refused_and_not_created(
    database_url: str, backend: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    if backend == "sqlite":
        missing = tmp_path / "gone.db"
        url = f"sqlite+agentcal:///{missing}"
        expected = f"no agentcal database at {missing} (from AGENTCAL_DATABASE_URL)"
    else:
        name = f"agentcal_missing_{uuid.uuid4().hex[:8]}"
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        expected = f"no database {name!r} on this PostgreSQL server"
    env = {**UNCONFIGURED, "AGENTCAL_DATABASE_URL": url, "AGENTCAL_DATA_DIR": str(tmp_path)}
    code, _, err = await asyncio.to_thread(run, env, "tokens", "list")
    assert code == 1
    assert expected in err
    assert_says_how_to_find_the_database(err)
    if backend == "sqlite":
        assert list(tmp_path.iterdir()) == []
    else:
        assert "createdb" in err
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            )
        assert found == 0
        # Not even `migrate` creates a PostgreSQL database: it says how to.
        code, _, err = await asyncio.to_thread(run, env, "migrate")
        assert code == 1
        assert f"no database {name!r} on the PostgreSQL server" in err
        assert f"create it with `createdb -h {make_url(url).host}" in err


@pytest.fixture
async def foreign_database_url(
    database_url: str, backend: str, tmp_path: Path
) -> AsyncIterator[str]:
    """A database that exists but holds no agentcal schema (only a table of its own)."""
    if backend == "sqlite":
        path = tmp_path / "other.db"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE notes (body TEXT)")
        yield f"sqlite+agentcal:///{path}"
        return
    name = f"agentcal_foreign_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    foreign = create_engine(url)
    async with foreign.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (body TEXT)"))
    await foreign.dispose()
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_a_database_without_the_schema_is_refused_until_migrated(
    foreign_database_url: str, tmp_path: Path
) -> None:
    env = {**UNCONFIGURED, "AGENTCAL_DATABASE_URL": foreign_database_url}
    env["AGENTCAL_DATA_DIR"] = str(tmp_path)
    code, _, err = await asyncio.to_thread(run, env, "tokens", "list")
    assert code == 1
    assert "holds no agentcal schema" in err
    assert "(from AGENTCAL_DATABASE_URL)" in err
    assert "`agentcal migrate`" in err
    assert await _tables(foreign_database_url) == {"notes"}  # the refusal created nothing

    assert (await asyncio.to_thread(run, env, "migrate"))[0] == 0
    code, out, _ = await asyncio.to_thread(run, env, "tokens", "list", "--json")
    assert code == 0
    assert json.loads(out) == []


def test_migrate_creates_a_private_database_that_the_other_commands_then_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(UNCONFIGURED, "migrate")
    assert code == 0, err
    data = tmp_path / ".agentcal"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "agentcal.db").stat().st_mode) == 0o600
    code, out, _ = run(UNCONFIGURED, "tokens", "list", "--json")
    assert code == 0
    assert json.loads(out) == []


def test_rotate_keys_without_any_key_refuses_and_creates_none(
    env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    keyless = {**env, "AGENTCAL_SECRET_KEYS": None, "AGENTCAL_DATA_DIR": str(data_dir)}
    code, _, err = run(keyless, "admin", "rotate-keys")
    assert code == 1
    assert f"no encryption key: AGENTCAL_SECRET_KEYS is not set and there is no {data_dir}" in err
    assert "agentcal serve" in err
    assert not data_dir.exists()


def test_bootstrap_needs_no_key_and_creates_none(env: dict[str, str], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keyless = {**env, "AGENTCAL_SECRET_KEYS": None, "AGENTCAL_DATA_DIR": str(data_dir)}
    assert bootstrap(keyless)["token"].startswith("agc_")
    assert not data_dir.exists()


def test_generate_key_prints_a_usable_key() -> None:
    result = runner.invoke(cli, ["admin", "generate-key"])
    assert result.exit_code == 0
    keyring = Keyring.from_text(result.stdout.strip())
    assert keyring.open(keyring.seal("v", b"c"), b"c") == "v"


async def test_rotate_keys_reseals_every_secret_under_the_new_key(
    env: dict[str, str], app: FastAPI, tenant: Tenant, secret_key: str
) -> None:
    created = await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    assert created.status_code == 201
    function = await tenant.api.post(
        "/api/v1/functions/", json=google_function_body(tenant.user_id, tenant.unit_id)
    )
    assert function.status_code == 201

    new_key = generate_key()
    rotated_env = {**env, "AGENTCAL_SECRET_KEYS": f"{new_key},{secret_key}"}
    code, _, err = await asyncio.to_thread(run, rotated_env, "admin", "rotate-keys")
    assert code == 0, err
    assert "re-encrypted 2 secret(s)" in err

    only_new = Keyring.from_text(new_key)
    async with session_scope(app.state.sessionmaker) as session:
        integration = await session.get(CalcomIntegration, uuid.UUID(created.json()["id"]))
        plugin = await session.scalar(select(GoogleCalendarPlugin))
        assert integration is not None
        assert plugin is not None
        assert integration.api_key_key_id == plugin.google_token_key_id == parse_key(new_key).id
        assert API_KEY.open(only_new, integration) == CALCOM_API_KEY
        assert GOOGLE_TOKEN.open(only_new, plugin) == GOOGLE_ACCESS_TOKEN

    code, _, err = await asyncio.to_thread(run, rotated_env, "admin", "rotate-keys")
    assert "re-encrypted 0 secret(s)" in err
    assert "2 already used it" in err


async def test_rotate_keys_without_the_old_key_fails_and_changes_nothing(
    env: dict[str, str], app: FastAPI, tenant: Tenant, secret_key: str
) -> None:
    created = await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    assert created.status_code == 201
    bad_env = {**env, "AGENTCAL_SECRET_KEYS": generate_key()}
    code, _, err = await asyncio.to_thread(run, bad_env, "admin", "rotate-keys")
    assert code == 1
    assert "AGENTCAL_SECRET_KEYS" in err
    async with session_scope(app.state.sessionmaker) as session:
        row = await session.get(CalcomIntegration, uuid.UUID(created.json()["id"]))
        assert row is not None
        assert API_KEY.open(Keyring.from_text(secret_key), row) == CALCOM_API_KEY


def test_serve_with_no_configuration_creates_its_embedded_default(tmp_path: Path) -> None:
    """First start: data dir, SQLite in WAL mode, migrations and a private key file."""
    port = free_port()
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentcal", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    data = tmp_path / ".agentcal"
    assert "applying migrations" in output
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    # The database, its WAL and its shared memory: the owner's alone.
    files = sorted(data.glob("agentcal.db*"))
    assert data / "agentcal.db" in files
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    with sqlite3.connect(data / "agentcal.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert version == migrate.head_revision()


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0].decode()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")


def test_sandbox_command_serves_the_demo_accounts(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentcal", "sandbox", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/docs", proc)
        me = httpx.get(
            f"http://127.0.0.1:{port}/calcom/v2/me",
            headers={"Authorization": "Bearer cal_sandbox_demo"},
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert me.status_code == 200
    assert me.json()["data"]["username"] == "demo"


def test_serve_with_sandbox_points_the_providers_at_it(tmp_path: Path) -> None:
    """`serve --sandbox`: the API reads event types live from the sandbox it started."""
    port, sandbox_port = free_port(), free_port()
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    cmd = [
        sys.executable,
        "-m",
        "agentcal",
        "serve",
        "--port",
        str(port),
        "--sandbox",
        "--sandbox-port",
        str(sandbox_port),
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        boot = subprocess.run(
            [
                sys.executable,
                "-m",
                "agentcal",
                "admin",
                "bootstrap",
                "--institution",
                "S",
                "--unit",
                "U",
                "--user",
                "s@example.com",
                "--json",
            ],
            cwd=tmp_path,
            env=clean_env,
            capture_output=True,
            text=True,
            check=True,
        )
        ids = json.loads(boot.stdout)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {ids['token']}"},
        )
        created = api.post(
            "/api/v1/calcom/integration",
            json={
                "title": "Demo",
                "unitId": ids["unitId"],
                "apiKey": "cal_sandbox_demo",
                "calcomUsername": "demo",
                "timezone": "America/Sao_Paulo",
                "prompt": "p",
                "checkAvailabilityEnabled": True,
                "createBookingEnabled": True,
            },
        )
        assert created.status_code == 201, created.text
        types = api.get(f"/api/v1/calcom/integration/{created.json()['id']}/event-types")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert types.status_code == 200, types.text
    assert [t["slug"] for t in types.json()["data"]] == ["30min", "60min"]
