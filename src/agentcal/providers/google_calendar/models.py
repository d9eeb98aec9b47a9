"""Functions (Toolzz "plugins") and their Google Calendar configuration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agentcal.bots.models import bot_link
from agentcal.crypto.columns import SecretColumn
from agentcal.db.engine import Base, TimestampedMixin, UTCDateTime

GOOGLE_TOKEN = SecretColumn("google_calendar_plugins", "google_token")
GOOGLE_REFRESH_TOKEN = SecretColumn("google_calendar_plugins", "google_refresh_token")
NOTIFICATION_TARGET = SecretColumn("google_calendar_plugins", "notification_target")
NOTIFICATION_SECRET = SecretColumn("google_calendar_plugins", "notification_secret")
CREDENTIALS_VALID = "valid"
CREDENTIALS_INVALID = "invalid"


class Function(TimestampedMixin, Base):
    __tablename__ = "functions"
    __table_args__ = (Index(None, "institution_id", "created_at"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[uuid.UUID | None] = bot_link()
    type: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    icon_file_id: Mapped[uuid.UUID | None]
    status: Mapped[bool] = mapped_column(Boolean, default=True)
    color: Mapped[str] = mapped_column(String(32), default="gray")
    outputs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_activated: Mapped[bool] = mapped_column(Boolean, default=True)

    google_calendar: Mapped[GoogleCalendarPlugin | None] = relationship(
        back_populates="function", lazy="raise", cascade="all, delete-orphan", uselist=False
    )


class GoogleCalendarPlugin(TimestampedMixin, Base):
    """The `googleCalendarPlugin[0]` of a function, with the scheduling extensions."""

    __tablename__ = "google_calendar_plugins"
    __secrets__: ClassVar[tuple[SecretColumn, ...]] = (
        GOOGLE_TOKEN,
        GOOGLE_REFRESH_TOKEN,
        NOTIFICATION_TARGET,
        NOTIFICATION_SECRET,
    )

    function_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("functions.id", ondelete="CASCADE"), unique=True
    )
    google_id: Mapped[str] = mapped_column(String(64))
    calendar_id: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    google_user: Mapped[dict[str, Any]] = mapped_column(JSON)

    google_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    google_token_key_id: Mapped[str | None] = mapped_column(String(32))
    google_refresh_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    google_refresh_token_key_id: Mapped[str | None] = mapped_column(String(32))
    # When the stored access token expires (known only for tokens agentcal refreshed),
    # and whether the credentials still work: 'invalid' after `invalid_grant`, until
    # the integrator supplies a new token (google_calendar/credentials.py).
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_status: Mapped[str] = mapped_column(
        String(16), default=CREDENTIALS_VALID, server_default=CREDENTIALS_VALID
    )

    notification_type: Mapped[str | None] = mapped_column(String(16))
    notification_content_type: Mapped[str | None] = mapped_column(String(16))
    notification_content: Mapped[str | None] = mapped_column(Text)
    notification_delay_ms: Mapped[int] = mapped_column(Integer, default=0)
    notification_wait_for_speech: Mapped[int] = mapped_column(Integer, default=0)
    notification_target_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    notification_target_key_id: Mapped[str | None] = mapped_column(String(32))
    # The webhook signing secret (`whsec_…`), made at the first save with a webhook type.
    notification_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    notification_secret_key_id: Mapped[str | None] = mapped_column(String(32))

    working_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=60)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    horizon_days: Mapped[int] = mapped_column(Integer, default=60)
    check_availability_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    create_booking_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    create_meet_link: Mapped[bool] = mapped_column(Boolean, default=False)
    # Other calendars of the account whose busy times also block slots (never the
    # function's own `calendar_id`): asked in the same freeBusy request.
    busy_calendar_ids: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    function: Mapped[Function] = relationship(back_populates="google_calendar", lazy="raise")
