"""An `AgentcalError` as the problem+json response it stands for."""

from __future__ import annotations

from starlette.responses import JSONResponse

from agentcal.errors import PROBLEM_JSON, AgentcalError


def problem_response(error: AgentcalError) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status_code, media_type=PROBLEM_JSON, headers=error.headers
    )
