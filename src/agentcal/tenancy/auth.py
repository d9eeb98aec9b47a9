"""Bearer-token authentication and role checks, as `Annotated` dependencies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentcal.db.caches import TtlCache
from agentcal.db.engine import utcnow
from agentcal.errors import Forbidden, Unauthorized
from agentcal.tenancy.service import find_token_by_hash, state_at
from agentcal.tenancy.tokens import hash_token

# Declares the Bearer scheme in the OpenAPI document, on every operation that authenticates
# (Swagger UI's Authorize button). It never answers by itself (`auto_error=False`):
# `_bearer` reads the header, so that a 401 says what is wrong with it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description=(
        "An agentcal access token: `agentcal tokens create`, or `POST /api/v1/access-tokens`."
    ),
)


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


def bearer_credentials(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for any other form."""
    scheme, _, credentials = (header or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or " " in credentials:
        return None
    return credentials


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(
            "send an access token as 'Authorization: Bearer <token>' "
            "(create one with `agentcal tokens create`)",
            error=None,
        )
    credentials = bearer_credentials(header)
    if credentials is None:
        raise Unauthorized(
            "the Authorization header must be 'Bearer <token>'", error="invalid_request"
        )
    return credentials


@dataclass(frozen=True, slots=True)
class _KnownToken:
    """A token as read, kept briefly (see `agentcal.db.caches`), keyed by its hash."""

    principal: Principal
    revoked_at: datetime | None
    expires_at: datetime | None


def principal_cache(ttl: float) -> TtlCache[str, _KnownToken]:
    """Tokens recently used; a change to tokens, users or institutions empties it."""
    return TtlCache({"access_tokens", "users", "institutions"}, ttl=ttl)


async def authenticate(
    request: Request,
    _scheme: HTTPAuthorizationCredentials | None = Depends(BEARER),
) -> Principal:
    digest = hash_token(_bearer(request))
    cache: TtlCache[str, _KnownToken] = request.app.state.principals
    known = cache.get(digest)
    if known is None:
        generation = cache.generation
        # A session of its own, opened only on a miss: a tool call whose token and
        # tools are cached touches no database before its own writes.
        async with request.app.state.sessionmaker() as session:
            found = await find_token_by_hash(session, digest)
        if found is None:
            raise Unauthorized("the access token is not valid")
        token, role = found
        principal = Principal(token.user_id, token.institution_id, role, token.id)
        known = _KnownToken(principal, token.revoked_at, token.expires_at)
        cache.put(digest, known, generation)
    # Expiry is checked on every request, cached or not.
    state = state_at(known.revoked_at, known.expires_at, utcnow())
    if state != "active":
        raise Unauthorized(f"the access token is {state}; create a new one")
    return known.principal


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin of the institution; members manage bots and functions")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
