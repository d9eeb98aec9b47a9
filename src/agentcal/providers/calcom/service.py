"""Cal.com integrations of a unit: create, read, list, update, delete."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.bots.service import check_bot_in_unit
from agentcal.crypto.columns import masked
from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import utcnow
from agentcal.kit.pagination import Page
from agentcal.providers.calcom.client import CalcomClient, EventType
from agentcal.providers.calcom.models import API_KEY, CalcomIntegration
from agentcal.providers.calcom.schemas import IntegrationCreate, IntegrationUpdate
from agentcal.tenancy.service import get_owned, get_unit

API_KEY_PREFIX = "cal_"


def _set_api_key(keyring: Keyring, row: CalcomIntegration, api_key: str) -> None:
    API_KEY.seal(keyring, row, api_key)
    row.api_key_mask = masked(api_key, API_KEY_PREFIX)


async def get_integration(
    session: AsyncSession, institution_id: uuid.UUID, integration_id: uuid.UUID
) -> CalcomIntegration:
    return await get_owned(
        session, CalcomIntegration, integration_id, institution_id, "Cal.com integration"
    )


async def list_integrations(
    session: AsyncSession, institution_id: uuid.UUID, unit_id: uuid.UUID, page: Page
) -> list[CalcomIntegration]:
    await get_unit(session, institution_id, unit_id)
    rows = await session.scalars(
        select(CalcomIntegration)
        .where(CalcomIntegration.unit_id == unit_id)
        .order_by(CalcomIntegration.created_at.desc(), CalcomIntegration.id)
        .offset(page.offset)
        .limit(page.fetch)
    )
    return list(rows)


async def create_integration(
    session: AsyncSession, keyring: Keyring, institution_id: uuid.UUID, body: IntegrationCreate
) -> CalcomIntegration:
    await get_unit(session, institution_id, body.unit_id)
    await check_bot_in_unit(session, institution_id, body.bot_id, body.unit_id)
    row = CalcomIntegration(
        id=uuid.uuid4(),
        institution_id=institution_id,
        unit_id=body.unit_id,
        bot_id=body.bot_id,
        title=body.title,
        calcom_username=body.calcom_username,
        is_active=True,
        timezone=body.timezone,
        prompt=body.prompt,
        check_availability_enabled=body.check_availability_enabled,
        create_booking_enabled=body.create_booking_enabled,
        default_event_type_id=body.default_event_type_id,
        default_event_type_slug=body.default_event_type_slug,
    )
    _set_api_key(keyring, row, body.api_key)
    session.add(row)
    await session.flush()
    return row


async def update_integration(
    session: AsyncSession,
    keyring: Keyring,
    institution_id: uuid.UUID,
    integration_id: uuid.UUID,
    body: IntegrationUpdate,
) -> CalcomIntegration:
    row = await get_integration(session, institution_id, integration_id)
    if body.unit_id != row.unit_id:
        await get_unit(session, institution_id, body.unit_id)
    sent = body.model_fields_set
    bot_id = body.bot_id if "bot_id" in sent else row.bot_id
    await check_bot_in_unit(session, institution_id, bot_id, body.unit_id)

    row.unit_id = body.unit_id
    row.bot_id = bot_id
    row.title = body.title
    row.calcom_username = body.calcom_username
    row.timezone = body.timezone
    row.prompt = body.prompt
    row.check_availability_enabled = body.check_availability_enabled
    row.create_booking_enabled = body.create_booking_enabled
    if body.is_active is not None:
        row.is_active = body.is_active
    if "default_event_type_id" in sent:
        row.default_event_type_id = body.default_event_type_id
    if "default_event_type_slug" in sent:
        row.default_event_type_slug = body.default_event_type_slug
    if body.api_key is not None:
        _set_api_key(keyring, row, body.api_key)
    row.updated_at = utcnow()  # every applied PUT is an update, even one that changes nothing
    await session.flush()
    return row


async def delete_integration(
    session: AsyncSession, institution_id: uuid.UUID, integration_id: uuid.UUID
) -> None:
    """Delete an integration; its sealed API key goes with the row."""
    row = await get_integration(session, institution_id, integration_id)
    await session.delete(row)
    await session.flush()


async def live_event_types(
    session: AsyncSession,
    keyring: Keyring,
    calcom: CalcomClient,
    institution_id: uuid.UUID,
    integration_id: uuid.UUID,
) -> list[EventType]:
    """The integration's event types, read from Cal.com now (not cached)."""
    row = await get_integration(session, institution_id, integration_id)
    api_key = API_KEY.open(keyring, row)
    assert api_key is not None  # the column is NOT NULL
    return await calcom.event_types(api_key, row.calcom_username)
