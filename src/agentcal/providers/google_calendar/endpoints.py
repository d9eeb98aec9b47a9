"""`/api/v1/functions`: a unit's Google Calendar functions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request, Response, status

from agentcal.dependencies import KeyringDep, Session, SettingsDep
from agentcal.kit.pagination import PageParams
from agentcal.kit.routes import JSONRoute
from agentcal.providers.google_calendar import service
from agentcal.providers.google_calendar.schemas import (
    FunctionCreate,
    FunctionList,
    FunctionRead,
    FunctionType,
    FunctionUpdate,
    function_read,
)
from agentcal.tenancy.auth import CurrentPrincipal

router = APIRouter(prefix="/api/v1/functions", tags=["functions"], route_class=JSONRoute)
# What only these routes answer; `kit.openapi` documents the rest of each route's errors.
NAMED_IN_BODY: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "`unityId`, `userId` or `botId` names nothing of the institution "
        "(`not-found`)."
    }
}
NO_UNIT: dict[int | str, dict[str, Any]] = {
    404: {"description": "`unityId` names no unit of the institution (`not-found`)."}
}


async def create_function(
    body: FunctionCreate,
    principal: CurrentPrincipal,
    session: Session,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> FunctionRead:
    """Create a Google Calendar function (seed `create-google-calendar-function`).

    With `notificationType: "webhook"` the answer holds the new signing secret
    (`notificationSecret`, `whsec_…`) in clear: the only time it is shown.
    """
    function = await service.create_function(
        session,
        keyring,
        principal.institution_id,
        body,
        allow_private=settings.notifications_allow_private,
    )
    return function_read(function, service.fresh_secret(session, function))


async def list_functions(
    principal: CurrentPrincipal,
    session: Session,
    page: PageParams,
    request: Request,
    response: Response,
    unity_id: uuid.UUID | None = Query(default=None, alias="unityId"),
    function_type: FunctionType | None = Query(default=None, alias="type"),
) -> FunctionList:
    """The institution's functions, newest first, optionally of one unit or type."""
    rows = await service.list_functions(
        session, principal.institution_id, unity_id, function_type, page
    )
    return FunctionList(data=[function_read(f) for f in page.trim(rows, request, response)])


# The seed posts to `/functions/`; clients that drop the slash must not get a redirect.
for path, in_schema in (("/", True), ("", False)):
    router.add_api_route(
        path,
        create_function,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        include_in_schema=in_schema,
        responses=NAMED_IN_BODY,
    )
    router.add_api_route(
        path, list_functions, methods=["GET"], include_in_schema=in_schema, responses=NO_UNIT
    )


@router.get("/{id}")
async def get_function(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session
) -> FunctionRead:
    return function_read(await service.get_function(session, principal.institution_id, id))


@router.put("/{id}")
async def update_function(
    id: uuid.UUID,
    body: FunctionUpdate,
    principal: CurrentPrincipal,
    session: Session,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> FunctionRead:
    """Replace the function; leave `googleToken` out to keep the stored one. The first
    save with `notificationType: "webhook"` answers the new signing secret, once."""
    function = await service.update_function(
        session,
        keyring,
        principal.institution_id,
        id,
        body,
        allow_private=settings.notifications_allow_private,
    )
    return function_read(function, service.fresh_secret(session, function))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_function(id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> Response:
    await service.delete_function(session, principal.institution_id, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/duplicate/{id}", status_code=status.HTTP_201_CREATED)
async def duplicate_function(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session, keyring: KeyringDep
) -> FunctionRead:
    """Copy a function under a new id, switched off (`isActivated: false`). A copy
    sending webhooks gets a signing secret of its own, shown in this answer only."""
    copy = await service.duplicate_function(session, keyring, principal.institution_id, id)
    return function_read(copy, service.fresh_secret(session, copy))


@router.post("/{id}/notification-secret")
async def rotate_notification_secret(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session, keyring: KeyringDep
) -> FunctionRead:
    """Replace the webhook signing secret. The answer shows the new one
    (`googleCalendarPlugin[0].notificationSecret`), once; the old one stops signing
    at once, so update the receiver with it."""
    function = await service.rotate_secret(session, keyring, principal.institution_id, id)
    return function_read(function, service.fresh_secret(session, function))
