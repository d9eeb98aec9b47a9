"""Bearer-token authentication and role checks, as `Annotated` dependencies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from agentcal.database import utcnow
from agentcal.dependencies import Session
from agentcal.errors import Forbidden, Unauthorized
from agentcal.tenancy.service import find_token, token_state


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user of one institution, through one token."""

    user_id: uuid.UUID
    institution_id: uuid.UUID
    role: str
    token_id: uuid.UUID

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(
            "send an access token as 'Authorization: Bearer <token>' "
            "(create one with `agentcal tokens create`)",
            error=None,
        )
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or " " in credentials:
        raise Unauthorized(
            "the Authorization header must be 'Bearer <token>'", error="invalid_request"
        )
    return credentials


async def authenticate(request: Request, session: Session) -> Principal:
    found = await find_token(session, _bearer(request))
    if found is None:
        raise Unauthorized("the access token is not valid")
    token, role = found
    state = token_state(token, utcnow())
    if state != "active":
        raise Unauthorized(f"the access token is {state}; create a new one")
    return Principal(token.user_id, token.institution_id, role, token.id)


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin of the institution; members manage bots and functions")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
