"""What the tool runtime stores: an audit record of every call, and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.db.engine import Base, UTCDateTime, utcnow


class ToolCallRecord(Base):
    """One executed tool call: written even when the provider failed.

    Arguments are kept only as a keyed hash (HMAC): they hold attendees' personal data,
    and a plain hash of an e-mail can be confirmed by anyone who guesses the e-mail.
    """

    __tablename__ = "tool_calls"
    __table_args__ = (Index(None, "institution_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    bot_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bots.id", ondelete="SET NULL"), index=True
    )
    # The function or integration; no foreign key, so the record outlives it.
    function_kind: Mapped[str] = mapped_column(String(32))
    function_id: Mapped[uuid.UUID] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    tool_name: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(128))
    arguments_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # "ok" or the tool error code
    latency_ms: Mapped[int] = mapped_column(Integer)
    provider_booking_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    """A tool call's key within its scope (a bot, or a single function), for 24 h.

    `state` is `running` while the first call executes and `done` with its result
    after; a repeat with the same arguments hash replays the result. The result names
    attendees, so it is stored sealed (`result_ciphertext`, AES-GCM like every secret).

    A running claim is a lease: `lease_expires_at` is pushed forward while its call
    runs, and a claim whose lease has lapsed belongs to a process that died. (None on
    claims made by a version without leases: their age decides.)
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    arguments_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    result_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
