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
from agentcal.kit import api_docs, openapi
from agentcal.notifications.endpoints import router as notifications_router
from agentcal.observability import ObservabilityMiddleware
from agentcal.providers import availability, registry
from agentcal.providers.base import Services
from agentcal.rate_limits import RateLimitMiddleware, RateLimits
from agentcal.request_limits import RequestLimits
from agentcal.runtime import deliveries, idempotency
from agentcal.runtime.catalog import catalog_cache
from agentcal.runtime.channels import elevenlabs, mcp, retell, vapi, voice
from agentcal.runtime.channels.rest import function_routes
from agentcal.runtime.channels.rest import router as rest_router
from agentcal.runtime.executor import Runtime
from agentcal.settings import Settings
from agentcal.tenancy.auth import principal_cache
from agentcal.tenancy.endpoints import router as tenancy_router
from agentcal.voice.endpoints import router as channels_router
from agentcal.voice.service import channel_cache


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
        app.state.principals = principal_cache(settings.cache_seconds)
        app.state.catalogs = catalog_cache(settings.cache_seconds)
        app.state.voice_channels = channel_cache(settings.cache_seconds)
        services = Services(engine, app.state.sessionmaker, app.state.keyring)
        app.state.runtime = Runtime(
            services,
            {p.kind: p.start(settings, services) for p in registry.providers()},
            notification_give_up=settings.notification_give_up_seconds,
        )
        # Expired idempotency keys hold old results (names, e-mails): purge them hourly.
        purger = asyncio.create_task(idempotency.purge_forever(engine))
        background = [purger]
        if engine.dialect.name == "postgresql":  # other replicas' changes empty the caches
            background.append(asyncio.create_task(cache_sync.listen_forever(engine.url)))
            # Other replicas' bookings empty the kept availability answers.
            background.append(asyncio.create_task(availability.listen_forever(engine.url)))
        worker = None
        if settings.notifications_worker:
            worker = deliveries.worker(settings, engine, app.state.sessionmaker, app.state.keyring)
            worker.start()
        try:
            async with mcp.run(app):  # stops MCP exchanges before what they use
                yield
        finally:
            if worker is not None:  # finishes what it is sending, releases the rest
                await worker.stop()
            for task in background:
                task.cancel()
            await app.state.runtime.aclose()
            await engine.dispose()

    app = FastAPI(
        title="agentcal",
        version=__version__,
        summary="Scheduling functions (Cal.com, Google Calendar) for AI agents.",
        description=(
            "Every `/api/v1` operation takes an access token (`Authorization: Bearer …`). "
            "Errors are RFC 9457 problem details (`application/problem+json`); a 422 names "
            "each invalid field in `errors`. Text never holds NUL characters or unpaired "
            "surrogates, which no database stores as text: they are a 422 wherever sent."
        ),
        lifespan=lifespan,
        # Served by `kit.api_docs` from local files, not FastAPI's pages on a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    error_handlers.install(app)
    openapi.install(app)  # every operation's problem+json errors and the Bearer scheme
    api_docs.install(app)
    routers = [health_router, tenancy_router, bots_router]
    routers += [provider.router for provider in registry.providers()]
    routers += [notifications_router, channels_router]
    hooks = [vapi.router, retell.router, elevenlabs.router]  # voice platforms call these
    for router in (*routers, rest_router, function_routes(registry.providers()), *hooks):
        app.include_router(router)
    app.router.routes.append(mcp.route())  # `/mcp/bots/{botId}`, outside the OpenAPI
    # A new channel's answer carries its tools, rendered by the tool runtime.
    app.state.channel_tools = voice.channel_tools
    app.state.rate_limits = RateLimits(
        per_token=settings.rate_limit_per_token,
        per_bot=settings.rate_limit_per_bot,
        auth_failures=settings.rate_limit_auth_failures,
        redis_url=settings.redis_url,
    )
    # The last added runs first: every answer is observed, sizes are checked before
    # a request is counted, and counted before it is routed.
    app.add_middleware(RateLimitMiddleware, limits=app.state.rate_limits)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    app.add_middleware(ObservabilityMiddleware)
    return app
