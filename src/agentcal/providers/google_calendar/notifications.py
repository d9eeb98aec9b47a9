"""Where a Google Calendar function's notifications go, and its webhook signing secret."""

from __future__ import annotations

import base64
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.crypto.keyring import Keyring
from agentcal.notifications.senders import Destination, Undeliverable
from agentcal.providers.google_calendar.models import (
    NOTIFICATION_SECRET,
    NOTIFICATION_TARGET,
    Function,
    GoogleCalendarPlugin,
)

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


async def destination(
    session: AsyncSession, keyring: Keyring, institution_id: uuid.UUID, function_id: uuid.UUID
) -> Destination:
    """The function's current target and secret, opened to send one notification."""
    plugin = await session.scalar(
        select(GoogleCalendarPlugin)
        .join(Function, Function.id == GoogleCalendarPlugin.function_id)
        .where(Function.id == function_id, Function.institution_id == institution_id)
    )
    if plugin is None:
        raise Undeliverable("function-deleted: the function no longer exists")
    target = NOTIFICATION_TARGET.open(keyring, plugin)
    if plugin.notification_type is None or target is None:
        raise Undeliverable("notifications-off: the function no longer sends notifications")
    return Destination(
        channel=plugin.notification_type,
        target=target,
        secret=NOTIFICATION_SECRET.open(keyring, plugin),
    )
