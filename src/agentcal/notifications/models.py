"""The outbox: one row per notification, from the booking change until delivered or dead."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.crypto.columns import SecretColumn
from agentcal.db.engine import Base, UTCDateTime, utcnow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)

PAYLOAD = SecretColumn("notifications", "payload")


class NotificationRecord(Base):
    """A notification to deliver, written with the audit record of the call that caused it.

    `payload` is the webhook document (the booking's facts and the rendered content),
    sealed: it names the attendee. The target and the signing secret are not copied
    here; they are read from the function when it is sent, so a corrected target
    applies to what is still pending or redelivered, and deleting the function leaves
    no secret behind.

    A worker claims a due row by writing `claim_id` and `lease_expires_at`; the row is
    its own until the lease lapses, and only the holder of the claim records the
    outcome. `due_at` is when the next attempt may start.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index(None, "status", "due_at"),
        Index(None, "institution_id", "created_at"),
    )
    __secrets__: ClassVar[tuple[SecretColumn, ...]] = (PAYLOAD,)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    # The function (or integration) whose settings asked for it; no foreign key, so the
    # notification outlives it (and ends dead, naming why).
    function_kind: Mapped[str] = mapped_column(String(32))
    function_id: Mapped[uuid.UUID] = mapped_column(index=True)
    tool_call_id: Mapped[uuid.UUID | None]  # the audit record of the call
    event: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    payload_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_key_id: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_id: Mapped[uuid.UUID | None]
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
