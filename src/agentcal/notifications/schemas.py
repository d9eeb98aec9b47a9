"""What the API shows of a notification: its delivery, never its content or target."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel

from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import RESPONSE_CONFIG
from agentcal.notifications.models import PENDING, NotificationRecord

Status = Literal["pending", "delivered", "dead"]


class NotificationRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    function_id: uuid.UUID
    event: str
    channel: str
    status: Status
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    # The `webhook-id` header every attempt of it carries.
    webhook_id: str

    @classmethod
    def of(cls, row: NotificationRecord) -> NotificationRead:
        return cls(
            id=row.id,
            function_id=row.function_id,
            event=row.event,
            channel=row.channel,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            next_attempt_at=iso_millis(row.due_at) if row.status == PENDING else None,
            created_at=iso_millis(row.created_at),
            delivered_at=iso_millis(row.delivered_at) if row.delivered_at else None,
            webhook_id=f"msg_{row.id.hex}",
        )


class NotificationList(BaseModel):
    data: list[NotificationRead]
