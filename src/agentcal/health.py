"""`/healthz` (process up), `/readyz` (database reachable) and `/metrics` (Prometheus)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from agentcal.error_handlers import problem

log = structlog.get_logger("agentcal.health")

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    responses={503: {"description": "The database is not reachable (`not-ready`)."}},
)
async def readyz(request: Request) -> dict[str, str] | Response:
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("not ready", error=f"{type(exc).__name__}: {exc}"[:300])
        return problem(503, "the database is not reachable", "not-ready")
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
