"""Bots (AI agents) of a unit; functions and integrations link to them."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from agentcal.db.engine import Base, TimestampedMixin


class Bot(TimestampedMixin, Base):
    __tablename__ = "bots"

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    # The language of its tools' results: "en", "pt-BR" or "es".
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")


LINKS_BOT = "agentcal.links_bot"  # `Column.info` key of the columns `bot_link()` makes


def bot_link() -> MappedColumn[uuid.UUID | None]:
    """The `bot_id` of a function a bot's tools come from, whatever its provider.

    Marked, so that the bots feature can count what is linked to a bot without naming
    any provider. Deleting the bot unlinks its functions (`ON DELETE SET NULL`).
    """
    return mapped_column(
        ForeignKey("bots.id", ondelete="SET NULL"), index=True, info={LINKS_BOT: True}
    )
