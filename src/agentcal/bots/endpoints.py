"""`/api/v1/bots`."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Response, status

from agentcal.bots import service
from agentcal.bots.schemas import BotList, BotRead, BotWrite
from agentcal.dependencies import Session
from agentcal.kit.routes import JSONRoute
from agentcal.tenancy.auth import CurrentPrincipal
from agentcal.tenancy.service import get_unit

router = APIRouter(prefix="/api/v1/bots", tags=["bots"], route_class=JSONRoute)
# What only these routes answer; `kit.openapi` documents the rest of each route's errors.
NO_UNIT: dict[int | str, dict[str, Any]] = {
    404: {"description": "`unitId` names no unit of the institution (`not-found`)."}
}


@router.post("", status_code=status.HTTP_201_CREATED, responses=NO_UNIT)
async def create_bot(body: BotWrite, principal: CurrentPrincipal, session: Session) -> BotRead:
    return BotRead.of(await service.create_bot(session, principal.institution_id, body))


@router.get("", responses=NO_UNIT)
async def list_bots(
    principal: CurrentPrincipal,
    session: Session,
    unit_id: uuid.UUID | None = Query(default=None, alias="unitId"),
) -> BotList:
    if unit_id is not None:
        await get_unit(session, principal.institution_id, unit_id)
    bots = await service.list_bots(session, principal.institution_id, unit_id)
    return BotList(data=[BotRead.of(b) for b in bots])


@router.get("/{id}")
async def get_bot(id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> BotRead:
    return BotRead.of(await service.get_bot(session, principal.institution_id, id))


@router.put(
    "/{id}",
    responses={
        409: {
            "description": "Moving a bot with linked functions to another unit, or a "
            "concurrent change (`conflict`)."
        }
    },
)
async def update_bot(
    id: uuid.UUID, body: BotWrite, principal: CurrentPrincipal, session: Session
) -> BotRead:
    return BotRead.of(await service.update_bot(session, principal.institution_id, id, body))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_bot(id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> Response:
    await service.delete_bot(session, principal.institution_id, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
