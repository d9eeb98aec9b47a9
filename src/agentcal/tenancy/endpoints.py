"""`/api/v1/units`, `/api/v1/users` and `/api/v1/access-tokens`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response, status

from agentcal.dependencies import Session
from agentcal.errors import Forbidden, NotFound
from agentcal.kit.routes import JSONRoute
from agentcal.tenancy import service
from agentcal.tenancy.auth import AdminPrincipal, CurrentPrincipal
from agentcal.tenancy.models import AccessToken
from agentcal.tenancy.schemas import (
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenRead,
    UnitCreate,
    UnitList,
    UnitRead,
    UserCreate,
    UserList,
    UserRead,
)

router = APIRouter(prefix="/api/v1", route_class=JSONRoute)
# What only these routes answer; `kit.openapi` documents the rest of each route's errors.
ADMINS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's user is not an admin of the institution (`forbidden`)."}
}


@router.get("/units", tags=["units"], responses=ADMINS)
async def list_units(principal: AdminPrincipal, session: Session) -> UnitList:
    units = await service.list_units(session, principal.institution_id)
    return UnitList(data=[UnitRead.of(u) for u in units])


@router.post(
    "/units",
    status_code=status.HTTP_201_CREATED,
    tags=["units"],
    responses={**ADMINS, 409: {"description": "A unit of that name exists (`conflict`)."}},
)
async def create_unit(body: UnitCreate, principal: AdminPrincipal, session: Session) -> UnitRead:
    return UnitRead.of(await service.create_unit(session, principal.institution_id, body.name))


@router.get("/units/{id}", tags=["units"], responses=ADMINS)
async def get_unit(id: uuid.UUID, principal: AdminPrincipal, session: Session) -> UnitRead:
    return UnitRead.of(await service.get_unit(session, principal.institution_id, id))


@router.get("/users", tags=["users"], responses=ADMINS)
async def list_users(principal: AdminPrincipal, session: Session) -> UserList:
    users = await service.list_users(session, principal.institution_id)
    return UserList(data=[UserRead.of(u) for u in users])


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses={**ADMINS, 409: {"description": "A user with that e-mail exists (`conflict`)."}},
)
async def create_user(body: UserCreate, principal: AdminPrincipal, session: Session) -> UserRead:
    user = await service.create_user(
        session, principal.institution_id, body.email, body.name, body.role
    )
    return UserRead.of(user)


@router.get("/users/me", tags=["users"])
async def get_me(principal: CurrentPrincipal, session: Session) -> UserRead:
    """The user behind the token (any role): its id is the `userId` functions take."""
    return UserRead.of(await service.get_user(session, principal.institution_id, principal.user_id))


@router.get("/users/{id}", tags=["users"], responses=ADMINS)
async def get_user(id: uuid.UUID, principal: AdminPrincipal, session: Session) -> UserRead:
    return UserRead.of(await service.get_user(session, principal.institution_id, id))


@router.post(
    "/access-tokens",
    status_code=status.HTTP_201_CREATED,
    tags=["access tokens"],
    responses={
        403: {"description": "A member asked for another user's token (`forbidden`)."},
        404: {"description": "`userId` names no user of the institution (`not-found`)."},
    },
)
async def create_token(
    body: TokenCreate, principal: CurrentPrincipal, session: Session
) -> TokenIssued:
    owner_id = body.user_id or principal.user_id
    if owner_id != principal.user_id and not principal.is_admin:
        raise Forbidden("only admins may issue tokens for other users")
    owner = await service.get_user(session, principal.institution_id, owner_id)
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = await service.issue_token(session, owner, body.name, expires)
    return TokenIssued(**TokenRead.of(issued.record).model_dump(), token=issued.token)


@router.get("/access-tokens", tags=["access tokens"])
async def list_tokens(principal: CurrentPrincipal, session: Session) -> TokenList:
    """Admins see every token of the institution; members see their own."""
    user_filter = None if principal.is_admin else principal.user_id
    tokens = await service.list_tokens(session, principal.institution_id, user_filter)
    return TokenList(data=[TokenRead.of(t) for t in tokens])


@router.delete(
    "/access-tokens/{id}", status_code=status.HTTP_204_NO_CONTENT, tags=["access tokens"]
)
async def revoke_token(id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> Response:
    """Revoke a token (it stays listed, with `revokedAt`)."""
    token = await service.get_owned(
        session, AccessToken, id, principal.institution_id, "access token"
    )
    if not principal.is_admin and token.user_id != principal.user_id:
        raise NotFound("access token", id)  # members don't learn that others' tokens exist
    await service.revoke_token(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
