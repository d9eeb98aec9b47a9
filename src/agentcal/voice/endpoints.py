"""`/api/v1/bots/{botId}/channels`: the doors voice platforms call a bot's tools through."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response, status

from agentcal.dependencies import KeyringDep, Session
from agentcal.kit.routes import JSONRoute
from agentcal.kit.timestamps import iso_millis
from agentcal.tenancy.auth import CurrentPrincipal
from agentcal.voice import service
from agentcal.voice.models import Channel
from agentcal.voice.schemas import ChannelCreated, ChannelList, ChannelRead, ChannelWrite

router = APIRouter(prefix="/api/v1/bots/{botId}/channels", tags=["channels"], route_class=JSONRoute)

# The bot's tools as a platform imports them: (request, institution, bot, platform, url,
# secret) → definitions. The tool runtime renders them, above this package; the app
# puts its renderer in `app.state.channel_tools`.
ChannelTools = Callable[
    [Request, uuid.UUID, uuid.UUID, str, str, str | None], Awaitable[list[dict[str, Any]]]
]


def _read(request: Request, channel: Channel) -> ChannelRead:
    return ChannelRead(
        id=channel.id,
        bot_id=channel.bot_id,
        platform=channel.platform,
        name=channel.name,
        url=service.channel_url(
            str(request.base_url), channel, request.app.state.settings.public_url
        ),
        auth=service.AUTH[channel.platform],
        created_at=iso_millis(channel.created_at),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_channel(
    botId: uuid.UUID,  # noqa: N803 - the path parameter keeps the API's spelling
    body: ChannelWrite,
    principal: CurrentPrincipal,
    session: Session,
    keyring: KeyringDep,
    request: Request,
) -> ChannelCreated:
    """Create a channel for a voice platform; its secret is in this answer only, and so
    are the bot's tools to import with the secret filled in."""
    channel, secret = await service.create_channel(
        session, keyring, principal.institution_id, botId, body
    )
    read = _read(request, channel)
    render: ChannelTools = request.app.state.channel_tools
    tools = await render(request, principal.institution_id, botId, body.platform, read.url, secret)
    return ChannelCreated(**read.model_dump(), secret=secret, tools=tools)


@router.get("")
async def list_channels(
    botId: uuid.UUID,  # noqa: N803
    principal: CurrentPrincipal,
    session: Session,
    request: Request,
) -> ChannelList:
    channels = await service.list_channels(session, principal.institution_id, botId)
    return ChannelList(data=[_read(request, c) for c in channels])


@router.get("/{id}")
async def get_channel(
    botId: uuid.UUID,  # noqa: N803
    id: uuid.UUID,
    principal: CurrentPrincipal,
    session: Session,
    request: Request,
) -> ChannelRead:
    return _read(request, await service.get_channel(session, principal.institution_id, botId, id))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    botId: uuid.UUID,  # noqa: N803
    id: uuid.UUID,
    principal: CurrentPrincipal,
    session: Session,
) -> Response:
    await service.delete_channel(session, principal.institution_id, botId, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
