"""The index of the bookings agentcal made, to find a caller's booking again."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.db.engine import Base, TimestampedMixin, UTCDateTime


class BookingEntry(TimestampedMixin, Base):
    """One booking agentcal made, kept current by its own cancels and moves.

    The attendee is kept only as keyed hashes (HMAC with the keyring) of the normalised
    e-mail and the E.164 phone: enough to find "my booking" by the caller's number,
    nothing that gives the number or the address back.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("function_kind", "function_id", "provider_booking_id"),
        Index(None, "function_id", "email_hmac"),
        Index(None, "function_id", "phone_hmac"),
    )

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    function_kind: Mapped[str] = mapped_column(String(32))
    function_id: Mapped[uuid.UUID] = mapped_column()
    provider_booking_id: Mapped[str] = mapped_column(String(255))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # "booked" or "cancelled"
    email_hmac: Mapped[str | None] = mapped_column(String(64))
    phone_hmac: Mapped[str | None] = mapped_column(String(64))
