"""Fixtures shared by the whole suite.

The suite runs on SQLite always and on PostgreSQL when `AGENTCAL_TEST_DATABASE_URL`
is set (e.g. `postgresql+asyncpg://postgres@127.0.0.1:5432/test`). The schema is
built by the real migrations once per run; every test then starts from empty tables,
so what the code commits is really committed and really checked.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import agentcal.models  # noqa: F401 - registers every table
from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.db import migrate
from agentcal.db.engine import Base, create_engine
from agentcal.sandbox.app import SandboxState, create_sandbox_app
from agentcal.sandbox.calcom import CalcomState
from agentcal.sandbox.google import CLIENT_ID as GOOGLE_CLIENT_ID
from agentcal.sandbox.google import CLIENT_SECRET as GOOGLE_CLIENT_SECRET
from agentcal.sandbox.google import GoogleState
from agentcal.settings import Settings
from tests.contract.recorder import ContractRecorder
from tests.factories import Tenant, create_tenant
from tests.servers import serve_in_thread

# Fails any test whose requests to the sandboxes break the providers' specs (issue 3, item 4).
pytest_plugins = ["tests.contract.plugin"]

PG_URL = os.environ.get("AGENTCAL_TEST_DATABASE_URL")


@dataclass(frozen=True)
class SandboxServer:
    url: str
    state: SandboxState

    @property
    def calcom(self) -> CalcomState:
        return self.state.calcom

    @property
    def google(self) -> GoogleState:
        return self.state.google


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agentcal")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return PG_URL or f"sqlite+agentcal:///{data_dir / 'test.db'}"


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture(scope="session")
def secret_key() -> str:
    return generate_key()


@pytest.fixture(scope="session")
def keyring(secret_key: str) -> Keyring:
    return Keyring.from_text(secret_key)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """The provider sandboxes, reached over real HTTP on a loopback port."""
    state = SandboxState()
    # Every exchange with /calcom/... and /google/... is validated against specs/.
    with serve_in_thread(ContractRecorder(create_sandbox_app(state))) as url:
        yield SandboxServer(url=url, state=state)


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's faults and bookings never reach the next test."""
    yield
    if "sandbox" in request.fixturenames:
        state = request.getfixturevalue("sandbox").state
        state.faults.rules.clear()
        state.calcom.bookings.clear()
        state.google.clear_events()
        state.channels.sink.clear()


@pytest.fixture(scope="session")
def settings(
    database_url: str, data_dir: Path, secret_key: str, sandbox: SandboxServer
) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_keys=secret_key,
        calcom_api_url=f"{sandbox.url}/calcom",
        google_api_url=f"{sandbox.url}/google/calendar/v3",
        google_token_url=f"{sandbox.url}/google/token",
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        log_level="WARNING",
        # Counted as in production, but far above what the suite's tests (hypothesis
        # among them) send; tests/test_limits.py tests the limits themselves.
        rate_limit_per_token="100000/minute",
        rate_limit_per_bot="100000/minute",
        rate_limit_auth_failures="100000/minute",
        # Tests of delivery start their own worker (tests/notifications); the others
        # leave what they queue in the outbox, where tests can look at it.
        notifications_worker=False,
        discord_api_url=f"{sandbox.url}/discord/api",
        telegram_api_url=f"{sandbox.url}/telegram",
    )


async def reset_schema(engine: AsyncEngine) -> None:
    """Drop everything, so the migrations build the schema from nothing."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        else:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await reset_schema(engine)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(engine: AsyncEngine, settings: Settings, keyring: Keyring) -> AsyncIterator[FastAPI]:
    application = create_app(settings, keyring=keyring)
    async with application.router.lifespan_context(application):
        yield application


async def empty_tables(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
async def _clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "engine" in request.fixturenames:
        await empty_tables(request.getfixturevalue("engine"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentcal.test") as c:
        yield c


@pytest.fixture
def make_tenant(app: FastAPI) -> Callable[..., Awaitable[Tenant]]:
    """Create an institution with a unit, an admin, and an authenticated client."""

    async def make(name: str = "Acme Clinics", unit: str = "Sales") -> Tenant:
        return await create_tenant(app, name, unit)

    return make


@pytest.fixture
async def tenant(make_tenant: Callable[..., Awaitable[Tenant]]) -> Tenant:
    return await make_tenant()


@pytest.fixture
async def other_tenant(make_tenant: Callable[..., Awaitable[Tenant]]) -> Tenant:
    """A second institution: nothing of it may be visible to `tenant`."""
    return await make_tenant("Globex Dental", "Support")
