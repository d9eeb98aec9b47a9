"""A unit's Cal.com integration: API key (sealed), username, timezone, prompt, switches."""

from __future__ import annotations

import uuid
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.bots.models import bot_link
from agentcal.crypto.columns import SecretColumn
from agentcal.db.engine import Base, TimestampedMixin

API_KEY = SecretColumn("calcom_integrations", "api_key")


class CalcomIntegration(TimestampedMixin, Base):
    __tablename__ = "calcom_integrations"
    __table_args__ = (Index(None, "unit_id", "created_at"),)
    __secrets__: ClassVar[tuple[SecretColumn, ...]] = (API_KEY,)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    bot_id: Mapped[uuid.UUID | None] = bot_link()
    title: Mapped[str] = mapped_column(String(120))
    calcom_username: Mapped[str] = mapped_column(String(100))
    api_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    api_key_key_id: Mapped[str] = mapped_column(String(32))
    # The masked form (`cal_****************`), kept so reads never decrypt.
    api_key_mask: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    timezone: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    check_availability_enabled: Mapped[bool] = mapped_column(Boolean)
    create_booking_enabled: Mapped[bool] = mapped_column(Boolean)
    default_event_type_id: Mapped[int | None] = mapped_column(BigInteger)
    default_event_type_slug: Mapped[str | None] = mapped_column(String(100))
