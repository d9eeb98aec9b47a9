"""Every feature's models, imported so `Base.metadata` (and Alembic) sees them all."""

from agentcal.bots.models import Bot
from agentcal.calcom.models import CalcomIntegration
from agentcal.database import Base
from agentcal.functions.models import Function, GoogleCalendarPlugin
from agentcal.runtime.models import IdempotencyRecord, ToolCallRecord
from agentcal.tenancy.models import AccessToken, Institution, Unit, User

__all__ = [
    "AccessToken",
    "Base",
    "Bot",
    "CalcomIntegration",
    "Function",
    "GoogleCalendarPlugin",
    "IdempotencyRecord",
    "Institution",
    "ToolCallRecord",
    "Unit",
    "User",
]
