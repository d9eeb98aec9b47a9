"""ElevenLabs: `POST /hooks/elevenlabs/{channelId}/{toolName}`, one webhook tool per URL.

An ElevenLabs agent's webhook tool posts its parameters as one flat JSON object; the
path names the tool. The exported tools also wire two system dynamic variables into
the body, which are not arguments and are taken out before the call runs:
`system__conversation_id` (the conversation) and `system__caller_id` (the caller's
number on a phone call). The answer is `{"result": "<sentence>", "ok", "data"}` (and
`error` when `ok` is false), JSON the agent's model reads.

* Authentication: `Authorization: Bearer <channel secret>`, a secret request header
  of the exported tool (ElevenLabs stores it as a workspace secret).
* Exactly once: ElevenLabs sends no tool-call id. A call that changes bookings is keyed
  by the conversation id, the tool name and the canonical arguments
  (`voice.derived_key`), so a repeat replays the first result. Without a conversation
  id there is nothing to tell a repeat from a new call by, and the call simply runs.
* The caller: `system__caller_id`; in a browser or test conversation it is no phone
  number, and no default is given.
* Timeout: a webhook tool's `response_timeout_secs` is 20 s by default (5 to 120 s); a
  call gives up after 15 s (`executor.CALL_BUDGET`). ElevenLabs does not retry.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Security
from pydantic import BaseModel, ConfigDict, Field

from agentcal.errors import Unauthorized
from agentcal.kit.routes import JSONRoute
from agentcal.runtime.channels import voice
from agentcal.runtime.channels.voice import SpokenResult
from agentcal.voice.service import KnownChannel

PLATFORM = "elevenlabs"
SYSTEM = "system__"  # the prefix of ElevenLabs' own dynamic variables

router = APIRouter(route_class=JSONRoute)


class WebhookToolBody(BaseModel):
    """The tool's parameters, flat, beside ElevenLabs' system dynamic variables."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    conversation_id: Annotated[str, Field(max_length=512)] | None = Field(
        default=None,
        alias="system__conversation_id",
        description="ElevenLabs' conversation id: repeats of a call in it are answered once",
    )
    caller_id: Annotated[str, Field(max_length=512)] | None = Field(
        default=None,
        alias="system__caller_id",
        description="The caller's number, the default `attendeePhone`",
    )

    def arguments(self) -> dict[str, Any]:
        """The tool's own arguments: everything but the system variables."""
        extra = self.__pydantic_extra__ or {}
        return {k: v for k, v in extra.items() if not k.startswith(SYSTEM)}


async def _authenticated(
    request: Request,
    channelId: uuid.UUID,  # noqa: N803 - the path parameter keeps the API's spelling
    _bearer: Annotated[Any, Security(voice.CHANNEL_BEARER)] = None,
) -> KnownChannel:
    known = await voice.channel(request, channelId, PLATFORM)
    presented = voice.bearer(request)
    if presented is None:
        raise Unauthorized(
            "send the channel secret as 'Authorization: Bearer <secret>' "
            "(a secret request header of the tool in ElevenLabs)"
        )
    if not known.secret_matches(presented):
        raise Unauthorized("the channel secret is not valid for this channel")
    return known


Channel = Annotated[KnownChannel, Depends(_authenticated)]
ToolName = Annotated[str, Path(min_length=1, max_length=64, description="the tool's name")]


@router.post(
    "/hooks/elevenlabs/{channelId}/{toolName}",
    tags=["voice hooks"],
    response_model_exclude_none=True,
    responses={
        401: {"description": "No channel secret, or not this channel's (`unauthorized`)."},
        404: {"description": "No ElevenLabs channel has this id (`not-found`)."},
        429: {"description": "Over the bot's rate limit (`rate-limited`)."},
    },
)
async def elevenlabs_hook(
    toolName: ToolName,  # noqa: N803 - the path parameter keeps the API's spelling
    body: WebhookToolBody,
    channel: Channel,
    request: Request,
) -> SpokenResult:
    """The URL of one of a bot's tools as an ElevenLabs webhook tool: runs the call, once."""
    tools = await voice.tools(request, channel)
    call = voice.keyed_call(
        tools.catalog, toolName, body.arguments(), body.caller_id, body.conversation_id
    )
    return SpokenResult.of(await tools.call(call))
