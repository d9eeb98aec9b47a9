"""Bot operations; also the `botId` rule that every provider's functions share."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.bots.models import LINKS_BOT, Bot
from agentcal.bots.schemas import BotWrite
from agentcal.db.engine import Base
from agentcal.errors import Conflict, InvalidInput
from agentcal.tenancy.service import get_owned, get_unit


async def get_bot(session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID) -> Bot:
    return await get_owned(session, Bot, bot_id, institution_id, "bot")


async def check_bot_in_unit(
    session: AsyncSession,
    institution_id: uuid.UUID,
    bot_id: uuid.UUID | None,
    unit_id: uuid.UUID,
    field: str = "botId",
) -> None:
    """A linked bot must exist in the institution (else 404) and in the same unit (else 422)."""
    if bot_id is None:
        return
    bot = await get_bot(session, institution_id, bot_id)
    if bot.unit_id != unit_id:
        raise InvalidInput(
            field, f"bot {bot_id} belongs to unit {bot.unit_id}, not to unit {unit_id}"
        )


async def list_bots(
    session: AsyncSession, institution_id: uuid.UUID, unit_id: uuid.UUID | None
) -> list[Bot]:
    query = select(Bot).where(Bot.institution_id == institution_id)
    if unit_id is not None:
        query = query.where(Bot.unit_id == unit_id)
    return list(await session.scalars(query.order_by(Bot.created_at.desc(), Bot.id)))


async def create_bot(session: AsyncSession, institution_id: uuid.UUID, body: BotWrite) -> Bot:
    await get_unit(session, institution_id, body.unit_id)
    bot = Bot(
        id=uuid.uuid4(),
        institution_id=institution_id,
        unit_id=body.unit_id,
        name=body.name,
        description=body.description,
        language=body.language,
    )
    session.add(bot)
    await session.flush()
    return bot


async def _linked_count(session: AsyncSession, bot_id: uuid.UUID) -> int:
    """How many functions, of any provider, are linked to the bot (see `bot_link`)."""
    count = 0
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if column.info.get(LINKS_BOT):
                linked = await session.scalar(
                    select(func.count()).select_from(table).where(column == bot_id)
                )
                count += linked or 0
    return count


async def update_bot(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID, body: BotWrite
) -> Bot:
    bot = await get_bot(session, institution_id, bot_id)
    if body.unit_id != bot.unit_id:
        await get_unit(session, institution_id, body.unit_id)
        # A bot's functions live in its unit; moving it would break that silently.
        if linked := await _linked_count(session, bot.id):
            raise Conflict(
                f"the bot has {linked} linked function(s) or integration(s) in unit "
                f"{bot.unit_id}; unlink them before moving the bot to another unit"
            )
        bot.unit_id = body.unit_id
    bot.name = body.name
    if "description" in body.model_fields_set:
        bot.description = body.description
    if "language" in body.model_fields_set:
        bot.language = body.language
    await session.flush()
    return bot


async def delete_bot(session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """Delete a bot; its functions and integrations stay, unlinked (`ON DELETE SET NULL`)."""
    bot = await get_bot(session, institution_id, bot_id)
    await session.delete(bot)
    await session.flush()
