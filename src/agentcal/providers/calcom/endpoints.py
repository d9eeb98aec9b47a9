"""`/api/v1/calcom/integration`: the Cal.com integrations of a unit."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from agentcal.dependencies import KeyringDep, Session
from agentcal.kit.pagination import PageParams
from agentcal.kit.routes import JSONRoute
from agentcal.providers.calcom import service
from agentcal.providers.calcom.client import CalcomClient
from agentcal.providers.calcom.schemas import (
    EventTypeList,
    EventTypeRead,
    IntegrationCreate,
    IntegrationList,
    IntegrationRead,
    IntegrationUpdate,
)
from agentcal.providers.calcom.tools import KIND
from agentcal.tenancy.auth import CurrentPrincipal


async def _client(request: Request) -> CalcomClient:  # async: no thread-pool hop
    client: CalcomClient = request.app.state.runtime.providers[KIND].client
    return client


Calcom = Annotated[CalcomClient, Depends(_client)]
router = APIRouter(
    prefix="/api/v1/calcom/integration", tags=["Cal.com integrations"], route_class=JSONRoute
)
# What only these routes answer; `kit.openapi` documents the rest of each route's errors.
NAMED_IN_BODY: dict[int | str, dict[str, Any]] = {
    404: {"description": "`unitId` or `botId` names nothing of the institution (`not-found`)."}
}
CALCOM_SAID: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Cal.com refused the stored settings: the API key "
        "(`credential-refused`, naming the fix), the username (`calcom-not-found`), or the "
        "request (`calcom-invalid-request`); or a concurrent change (`conflict`)."
    },
    503: {
        "description": "Cal.com is down, slow, rate-limiting or answered in an unexpected "
        "shape (`calcom-unavailable`, `calcom-rate-limited`, `calcom-error`; with "
        "`Retry-After`); or the database is busy (`busy`), or "
        "the stored API key cannot be decrypted with the configured keys "
        "(`secret-key-missing`)."
    },
}


@router.post("", status_code=status.HTTP_201_CREATED, responses=NAMED_IN_BODY)
async def create_integration(
    body: IntegrationCreate, principal: CurrentPrincipal, session: Session, keyring: KeyringDep
) -> IntegrationRead:
    """Create a Cal.com integration for a unit (seed `create-calcom-function`)."""
    row = await service.create_integration(session, keyring, principal.institution_id, body)
    return IntegrationRead.of(row)


@router.get("/unit/{unitId}")
async def list_integrations(
    unitId: uuid.UUID,  # noqa: N803 - the path parameter keeps the seed's name
    principal: CurrentPrincipal,
    session: Session,
    page: PageParams,
    request: Request,
    response: Response,
) -> IntegrationList:
    """The unit's integrations, newest first."""
    rows = await service.list_integrations(session, principal.institution_id, unitId, page)
    return IntegrationList(data=[IntegrationRead.of(r) for r in page.trim(rows, request, response)])


@router.get("/{id}")
async def get_integration(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session
) -> IntegrationRead:
    return IntegrationRead.of(await service.get_integration(session, principal.institution_id, id))


@router.put("/{id}")
async def update_integration(
    id: uuid.UUID,
    body: IntegrationUpdate,
    principal: CurrentPrincipal,
    session: Session,
    keyring: KeyringDep,
) -> IntegrationRead:
    """Replace the integration's settings; `apiKey` only when rotating it."""
    row = await service.update_integration(session, keyring, principal.institution_id, id, body)
    return IntegrationRead.of(row)


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_integration(
    id: uuid.UUID, principal: CurrentPrincipal, session: Session
) -> Response:
    await service.delete_integration(session, principal.institution_id, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/event-types", responses=CALCOM_SAID)
async def list_event_types(
    id: uuid.UUID,
    principal: CurrentPrincipal,
    session: Session,
    keyring: KeyringDep,
    calcom: Calcom,
) -> EventTypeList:
    """The Cal.com user's event types, read live from Cal.com with the stored API key.

    Cal.com failures answer 502 (503 with `Retry-After` when rate-limited) with a
    problem detail saying what to fix.
    """
    types = await service.live_event_types(session, keyring, calcom, principal.institution_id, id)
    return EventTypeList(
        data=[
            EventTypeRead(
                id=t.id, slug=t.slug, title=t.title, length_in_minutes=t.length_in_minutes
            )
            for t in types
        ]
    )
