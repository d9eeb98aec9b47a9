"""Voice channels: how a voice platform (Vapi, Retell, ElevenLabs) reaches a bot's tools."""

from __future__ import annotations

import uuid
from typing import ClassVar

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.crypto.columns import SecretColumn
from agentcal.db.engine import Base, TimestampedMixin

SIGNING_KEY = SecretColumn("channels", "signing_key")


class Channel(TimestampedMixin, Base):
    """One platform's door to one bot: `/hooks/{platform}/{id}`.

    The channel secret is kept only as a SHA-256 digest (it is random and long, so the
    digest cannot be guessed back, and a request is checked against it); Retell signs
    with the integrator's own Retell API key, which must be read back, so it is sealed.
    """

    __tablename__ = "channels"
    __secrets__: ClassVar[tuple[SecretColumn, ...]] = (SIGNING_KEY,)  # resealed by rotate-keys

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    secret_digest: Mapped[str] = mapped_column(String(64))
    signing_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    signing_key_key_id: Mapped[str | None] = mapped_column(String(32))
