"""Request and response bodies of bots."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from agentcal.bots.models import Bot
from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import BLANK_IS_NULL, REQUEST_CONFIG, RESPONSE_CONFIG, LongText, Name

Language = Literal["en", "pt-BR", "es"]  # speech.LANGUAGES


class BotWrite(BaseModel):
    model_config = REQUEST_CONFIG

    name: Name
    unit_id: uuid.UUID
    description: Annotated[LongText | None, BLANK_IS_NULL] = None
    language: Language = Field(
        default="en",
        description="The language of its tools' results: `en`, `pt-BR` or `es`. Kept when "
        "an update leaves it out.",
    )


class BotRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    description: str | None
    language: Language
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, bot: Bot) -> BotRead:
        return cls(
            id=bot.id,
            unit_id=bot.unit_id,
            name=bot.name,
            description=bot.description,
            language=bot.language,
            created_at=iso_millis(bot.created_at),
            updated_at=iso_millis(bot.updated_at),
        )


class BotList(BaseModel):
    data: list[BotRead]
