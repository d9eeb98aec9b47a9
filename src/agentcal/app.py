"""The ASGI application: routers, error handlers, and the resources its lifespan owns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agentcal import __version__, error_handlers, log
from agentcal.bots.endpoints import router as bots_router
from agentcal.crypto.keyring import Keyring, load_keyring
from agentcal.db import cache_sync
from agentcal.db.engine import create_engine, create_sessionmaker
from agentcal.health import router as health_router
from agentcal.observability import ObservabilityMiddleware
from agentcal.providers.calcom import bookings as _calcom_bookings  # noqa: F401 - registers
from agentcal.providers.calcom.client import CalcomClient
from agentcal.providers.calcom.endpoints import router as calcom_router
from agentcal.providers.google_calendar import bookings as _google_bookings  # noqa: F401
from agentcal.providers.google_calendar.client import GoogleCalendarClient
from agentcal.providers.google_calendar.endpoints import router as functions_router
from agentcal.runtime import idempotency
from agentcal.runtime.catalog import catalog_memo
from agentcal.runtime.channels import mcp as mcp_server
from agentcal.runtime.channels.rest import router as runtime_router
from agentcal.runtime.channels.rest_calls import router as calls_router
from agentcal.runtime.executor import Runtime, event_types_memo
from agentcal.settings import Settings
from agentcal.tenancy.auth import principal_memo
from agentcal.tenancy.endpoints import router as tenancy_router


def create_app(settings: Settings | None = None, keyring: Keyring | None = None) -> FastAPI:
    """Build the app. Migrations are not run here: `agentcal serve` runs them first."""
    settings = settings or Settings()
    # Here, not only in the CLI: `--workers N` starts fresh processes that import the app.
    # The plain renderers never print local variables, so secrets stay out of tracebacks.
    log.configure(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.keyring = keyring or load_keyring(settings.secret_keys, settings.key_file)
        app.state.calcom = CalcomClient(settings.calcom_api_url)
        app.state.google = GoogleCalendarClient(
            settings.google_api_url,
            settings.google_token_url,
            settings.google_client_id,
            settings.google_client_secret,
        )
        app.state.principals = principal_memo(settings.cache_seconds)
        app.state.catalogs = catalog_memo(settings.cache_seconds)
        app.state.runtime = Runtime(
            engine=engine,
            sessionmaker=app.state.sessionmaker,
            keyring=app.state.keyring,
            calcom=app.state.calcom,
            google=app.state.google,
            event_types=event_types_memo(settings.cache_seconds),
        )
        # Expired idempotency keys hold old results (names, e-mails): purge them hourly.
        purger = asyncio.create_task(idempotency.purge_forever(engine))
        background = [purger]
        if engine.dialect.name == "postgresql":  # other replicas' changes empty the caches
            background.append(asyncio.create_task(cache_sync.listen_forever(engine.url)))
        try:
            async with mcp_server.run(app):  # stops MCP exchanges before what they use
                yield
        finally:
            for task in background:
                task.cancel()
            await app.state.calcom.aclose()
            await app.state.google.aclose()
            await engine.dispose()

    app = FastAPI(
        title="agentcal",
        version=__version__,
        summary="Scheduling functions (Cal.com, Google Calendar) for AI agents.",
        lifespan=lifespan,
    )
    error_handlers.install(app)
    for router in (
        health_router,
        tenancy_router,
        bots_router,
        calcom_router,
        functions_router,
        runtime_router,
        calls_router,
    ):
        app.include_router(router)
    app.router.routes.append(mcp_server.route())  # `/mcp/bots/{botId}`, outside the OpenAPI
    app.add_middleware(ObservabilityMiddleware)
    return app
