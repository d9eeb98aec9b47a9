"""Every feature's models, imported so `Base.metadata` (and Alembic) sees them all.

Importing the registry maps every registered provider's models too, named here or not.
"""

import agentcal.providers.registry  # noqa: F401
from agentcal.bookings.models import BookingEntry
from agentcal.bots.models import Bot
from agentcal.db.engine import Base
from agentcal.notifications.models import NotificationRecord
from agentcal.providers.calcom.models import CalcomIntegration
from agentcal.providers.google_calendar.models import Function, GoogleCalendarPlugin
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.tenancy.models import AccessToken, Institution, Unit, User
from agentcal.voice.models import Channel

__all__ = [
    "AccessToken",
    "Base",
    "BookingEntry",
    "Bot",
    "CalcomIntegration",
    "Channel",
    "Function",
    "GoogleCalendarPlugin",
    "IdempotencyRecord",
    "Institution",
    "NotificationRecord",
    "ToolCallRecord",
    "Unit",
    "User",
]
