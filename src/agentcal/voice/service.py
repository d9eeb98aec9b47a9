"""Voice channel operations: the management API's, and the hooks' lookup of a channel.

A channel's secret is random (256 bits) and shown once; only its SHA-256 digest is
kept, and a request's secret is checked against it in constant time. Retell signs its
requests with the integrator's Retell API key instead, which must be read back to
check a signature: it is sealed like every other stored secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentcal.bots.service import get_bot
from agentcal.crypto.keyring import Keyring
from agentcal.db.caches import TtlCache
from agentcal.errors import InvalidInput, NotFound
from agentcal.tenancy.service import get_owned
from agentcal.voice.models import SIGNING_KEY, Channel
from agentcal.voice.schemas import SIGNS, ChannelWrite

SECRET_PREFIX = "agch_"  # recognisable, for secret scanners and for people


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hook_path(platform: str, channel_id: uuid.UUID) -> str:
    """The path a platform calls; for ElevenLabs, the base of one path per tool."""
    return f"/hooks/{platform}/{channel_id}"


def channel_url(base_url: str, channel: Channel, public_url: str | None = None) -> str:
    """The absolute URL of the channel: on `public_url` (AGENTCAL_PUBLIC_URL) when it
    is set, else on the server at `base_url` (as the request that asks reached it)."""
    return (public_url or base_url).rstrip("/") + hook_path(channel.platform, channel.id)


AUTH = {
    "vapi": "`X-Vapi-Secret: <secret>` or `Authorization: Bearer <secret>`",
    "retell": "`X-Retell-Signature`, signed with the Retell API key given as `signingKey`",
    "elevenlabs": "`Authorization: Bearer <secret>`",
}


async def create_channel(
    session: AsyncSession,
    keyring: Keyring,
    institution_id: uuid.UUID,
    bot_id: uuid.UUID,
    body: ChannelWrite,
) -> tuple[Channel, str | None]:
    """A new channel of the bot, and its secret (None for Retell, which signs instead)."""
    await get_bot(session, institution_id, bot_id)
    if body.platform == SIGNS and body.signing_key is None:
        raise InvalidInput(
            "signingKey", "is required for Retell: the Retell API key its requests are signed with"
        )
    secret = new_secret()
    channel = Channel(
        id=uuid.uuid4(),
        institution_id=institution_id,
        bot_id=bot_id,
        platform=body.platform,
        name=body.name,
        # Retell's channel has no secret to send: a random one nobody knows keeps the
        # column's meaning ("the digest of the channel's secret") without a special case.
        secret_digest=secret_digest(secret),
    )
    SIGNING_KEY.seal(keyring, channel, body.signing_key)
    session.add(channel)
    await session.flush()
    return channel, (None if body.platform == SIGNS else secret)


async def list_channels(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> list[Channel]:
    await get_bot(session, institution_id, bot_id)
    query = (
        select(Channel)
        .where(Channel.institution_id == institution_id, Channel.bot_id == bot_id)
        .order_by(Channel.created_at, Channel.id)
    )
    return list(await session.scalars(query))


async def get_channel(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel:
    """The bot's channel; another institution's (or another bot's) answers 404."""
    await get_bot(session, institution_id, bot_id)
    channel = await get_owned(session, Channel, channel_id, institution_id, "channel")
    if channel.bot_id != bot_id:
        raise NotFound("channel", channel_id)
    return channel


async def delete_channel(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID, channel_id: uuid.UUID
) -> None:
    """Delete the channel; its URL answers 404 from then on, and its signing key is gone."""
    channel = await get_channel(session, institution_id, bot_id, channel_id)
    await session.delete(channel)
    await session.flush()


# ------------------------------------------------------------------ the hooks' side


@dataclass(frozen=True, slots=True)
class KnownChannel:
    """What a hook needs of its channel, kept briefly in memory (`channel_cache`)."""

    id: uuid.UUID
    institution_id: uuid.UUID
    bot_id: uuid.UUID
    platform: str
    secret_digest: str
    # Opened: Retell's requests are checked against it. Never in a repr (a log line).
    signing_key: str | None = field(repr=False)

    def secret_matches(self, presented: str) -> bool:
        """Whether `presented` is the channel's secret; in constant time."""
        return hmac.compare_digest(secret_digest(presented), self.secret_digest)


def channel_cache(ttl: float) -> TtlCache[uuid.UUID, KnownChannel]:
    """Channels recently called; a change to channels or to what holds them empties it.
    (`bots`: deleting a bot deletes its channels in the database, not through the ORM.)"""
    return TtlCache({"channels", "bots", "institutions"}, ttl=ttl)


async def find_channel(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    channel_id: uuid.UUID,
    platform: str,
    cache: TtlCache[uuid.UUID, KnownChannel] | None = None,
) -> KnownChannel | None:
    """The channel `channel_id` of `platform`, or None if there is no such channel."""
    known = cache.get(channel_id) if cache is not None else None
    if known is None:
        generation = cache.generation if cache is not None else 0
        # A session of its own, opened only on a miss, as for access tokens.
        async with sessions() as session:
            row = await session.get(Channel, channel_id)
            if row is None:
                return None
            known = KnownChannel(
                row.id,
                row.institution_id,
                row.bot_id,
                row.platform,
                row.secret_digest,
                SIGNING_KEY.open(keyring, row),
            )
        if cache is not None:
            cache.put(channel_id, known, generation)
    return known if known.platform == platform else None
