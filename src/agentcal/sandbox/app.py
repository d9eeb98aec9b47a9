"""The sandbox server: Cal.com at `/calcom`, and `/sandbox/...` to set up accounts."""

from __future__ import annotations

from fastapi import FastAPI

from agentcal.sandbox.calcom import CalcomState, create_calcom_admin, create_calcom_api


def create_sandbox_app(calcom: CalcomState | None = None) -> FastAPI:
    calcom = calcom or CalcomState()
    app = FastAPI(title="agentcal sandbox", summary="Stateful Cal.com emulation for agentcal.")
    app.state.calcom = calcom
    app.include_router(create_calcom_admin(calcom))
    app.mount("/calcom", create_calcom_api(calcom))
    return app
