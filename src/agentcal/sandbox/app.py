"""The sandbox server: Cal.com at `/calcom`, Google Calendar at `/google/calendar/v3` (token
endpoint `/google/token`), the notification channels (Discord at `/discord`, Telegram at
`/telegram`, a webhook sink), and `/sandbox/...` to set accounts and faults up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from agentcal.sandbox.calcom import CalcomState, create_calcom_admin, create_calcom_api
from agentcal.sandbox.channels import (
    ChannelsState,
    create_channels_admin,
    create_discord_api,
    create_telegram_api,
)
from agentcal.sandbox.faults import Fault, FaultInjector, FaultMiddleware
from agentcal.sandbox.google import (
    GoogleState,
    create_google_admin,
    create_google_api,
    create_google_token_router,
)


@dataclass
class SandboxState:
    """Everything the sandboxes hold; tests reach into it to check and to set up."""

    calcom: CalcomState = field(default_factory=CalcomState)
    google: GoogleState = field(default_factory=GoogleState)
    channels: ChannelsState = field(default_factory=ChannelsState)
    faults: FaultInjector = field(default_factory=FaultInjector)


class _FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path_prefix: str = Field(alias="pathPrefix", default="/")
    methods: list[str] = Field(default_factory=list)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: float | None = Field(alias="retryAfter", default=None, ge=0)
    latency_ms: int = Field(alias="latencyMs", default=0, ge=0, le=120_000)
    # Handle the request at once, then hold its answer back this long.
    delay_after_ms: int = Field(alias="delayAfterMs", default=0, ge=0, le=120_000)
    hang: bool = False
    body: Any = None
    times: int = Field(default=1, ge=-1)


def _faults_router(faults: FaultInjector) -> APIRouter:
    router = APIRouter(prefix="/sandbox/faults", tags=["faults"])

    @router.post("", status_code=201)
    async def add_fault(body: _FaultIn) -> dict[str, int]:
        """Inject a fault into the next `times` requests under `pathPrefix`."""
        faults.rules.append(
            Fault(
                path_prefix=body.path_prefix,
                methods=frozenset(m.upper() for m in body.methods),
                status=body.status,
                retry_after=body.retry_after,
                latency_ms=body.latency_ms,
                delay_after_ms=body.delay_after_ms,
                hang=body.hang,
                body=body.body,
                times=body.times,
            )
        )
        return {"pending": len(faults.rules)}

    @router.delete("", status_code=204)
    async def clear_faults() -> None:
        faults.rules.clear()

    return router


def create_sandbox_app(state: SandboxState | None = None) -> FastAPI:
    state = state or SandboxState()
    app = FastAPI(title="agentcal sandbox", summary="Stateful provider emulations for agentcal.")
    app.state.sandbox = state
    app.include_router(create_calcom_admin(state.calcom))
    app.include_router(_faults_router(state.faults))
    app.mount("/calcom", create_calcom_api(state.calcom))
    app.include_router(create_google_admin(state.google))
    app.include_router(create_google_token_router(state.google))
    app.mount("/google/calendar/v3", create_google_api(state.google))
    app.include_router(create_channels_admin(state.channels))
    app.include_router(create_discord_api(state.channels))
    app.include_router(create_telegram_api(state.channels))
    app.add_middleware(FaultMiddleware, injector=state.faults)
    return app
