"""`/api/v1/notifications`: what was sent, what failed and why, and sending again."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request, Response
from fastapi import status as http_status

from agentcal.dependencies import Session, SettingsDep
from agentcal.kit.pagination import PageParams
from agentcal.kit.routes import JSONRoute
from agentcal.notifications import outbox
from agentcal.notifications.schemas import NotificationList, NotificationRead, Status
from agentcal.tenancy.auth import CurrentPrincipal

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], route_class=JSONRoute)


@router.get("")
async def list_notifications(
    principal: CurrentPrincipal,
    session: Session,
    page: PageParams,
    request: Request,
    response: Response,
    function_id: uuid.UUID | None = Query(
        default=None,
        alias="functionId",
        description="Only this function's. Notifications outlive their function, so an "
        "unknown id lists nothing rather than answering 404.",
    ),
    status: Status | None = Query(default=None, description="pending, delivered or dead"),
) -> NotificationList:
    """The institution's notifications, newest first."""
    rows = await outbox.list_for(session, principal.institution_id, function_id, status, page)
    return NotificationList(
        data=[NotificationRead.of(r) for r in page.trim(rows, request, response)]
    )


@router.post(
    "/{id}/redeliver",
    status_code=http_status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "No notification of the institution has this id (`not-found`)."},
        409: {"description": "A worker is sending it right now (`conflict`)."},
    },
)
async def redeliver(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session, settings: SettingsDep
) -> NotificationRead:
    """Send a notification again, now, to the function's current target, with its
    `webhook-id` unchanged so receivers can drop a duplicate."""
    row = await outbox.redeliver(
        session, principal.institution_id, id, settings.notification_give_up_seconds
    )
    return NotificationRead.of(row)
