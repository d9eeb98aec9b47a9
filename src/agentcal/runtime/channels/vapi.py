"""Vapi: `POST /hooks/vapi/{channelId}`, the server URL of a bot's tools on Vapi.

Vapi posts server messages `{"message": {"type", …}}`. A `tool-calls` message carries
the model's calls in `toolCallList` (and again, beside each tool's configuration, in
`toolWithToolCallList`); they run concurrently and are answered
`{"results": [{"name", "toolCallId", "result"}]}`, in the order of the calls, with
`"error"` instead of `"result"` for a failure, both single-line strings (Vapi fails to
parse line breaks) and always with HTTP 200 (Vapi ignores any other status). Every
other message (`status-update`, `end-of-call-report`, …) is informational and answered
`{}`.

* Authentication: the channel secret, as `X-Vapi-Secret: <secret>` (what Vapi sends
  for a tool's `server.headers`, and for its legacy `server.secret`) or
  `Authorization: Bearer <secret>` (a Bearer Token credential).
* Exactly once: Vapi's tool-call id, within its phone call (`message.call.id`), is the
  call's idempotency key; a repeat replays the first result. An id reused with other
  arguments answers an `error` for that call (where the REST API answers 409), so the
  other calls of the message still run.
* The caller: `message.call.customer.number` (or `message.customer.number`).
* Timeout: Vapi waits `server.timeoutSeconds` for the answer, 20 s by default, and by
  default does not retry; a call gives up after 15 s (`executor.CALL_BUDGET`), so the
  answer comes first.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agentcal.errors import Conflict, Unauthorized
from agentcal.kit.routes import JSONRoute
from agentcal.providers.base import ToolResult, one_line
from agentcal.runtime.channels import voice
from agentcal.runtime.channels.base import Tools
from agentcal.runtime.executor import Call
from agentcal.voice.service import KnownChannel

PLATFORM = "vapi"
MAX_CALLS = 20  # per message, as for the REST API: a model asking for more is looping

router = APIRouter(route_class=JSONRoute)

# Only for the API document (and Swagger UI): `_authenticated` reads the headers itself;
# `voice.CHANNEL_BEARER` is the other way to send the secret.
VAPI_SECRET = APIKeyHeader(
    name="X-Vapi-Secret",
    auto_error=False,
    scheme_name="vapiSecret",
    description="The channel secret, as Vapi sends it from a tool's `server.headers`.",
)

_VAPI = ConfigDict(extra="ignore", populate_by_name=True)
Text = Annotated[str, Field(max_length=512)]


class VapiFunction(BaseModel):
    model_config = _VAPI

    name: Annotated[str, Field(min_length=1, max_length=64)]
    arguments: dict[str, JsonValue] | Annotated[str, Field(max_length=100_000)] | None = None


class VapiToolCall(BaseModel):
    model_config = _VAPI

    id: Annotated[str, Field(min_length=1, max_length=512)]
    type: Text = "function"
    function: VapiFunction


class VapiToolWithCall(BaseModel):
    model_config = _VAPI

    tool_call: VapiToolCall = Field(alias="toolCall")


class VapiCustomer(BaseModel):
    model_config = _VAPI

    number: Text | None = None


class VapiCall(BaseModel):
    model_config = _VAPI

    id: Text | None = None
    customer: VapiCustomer | None = None


class VapiMessage(BaseModel):
    model_config = _VAPI

    type: Annotated[str, Field(max_length=64, description="`tool-calls`; others answer `{}`")]
    call: VapiCall | None = None
    customer: VapiCustomer | None = None
    tool_call_list: Annotated[list[VapiToolCall], Field(max_length=MAX_CALLS)] | None = Field(
        default=None, alias="toolCallList"
    )
    tool_with_tool_call_list: (
        Annotated[list[VapiToolWithCall], Field(max_length=MAX_CALLS)] | None
    ) = Field(default=None, alias="toolWithToolCallList")

    def calls(self) -> list[VapiToolCall]:
        """The calls, once each: `toolCallList`, else those of `toolWithToolCallList`."""
        listed = self.tool_call_list or [t.tool_call for t in self.tool_with_tool_call_list or []]
        once: dict[str, VapiToolCall] = {}
        for call in listed:
            once.setdefault(call.id, call)
        return list(once.values())

    def caller(self) -> str | None:
        for customer in (self.call.customer if self.call else None, self.customer):
            if customer is not None and customer.number:
                return customer.number
        return None


class VapiServerMessage(BaseModel):
    """A Vapi server message, as Vapi posts it to a server URL."""

    model_config = _VAPI

    message: VapiMessage


class VapiResult(BaseModel):
    name: str
    tool_call_id: str = Field(serialization_alias="toolCallId")
    result: str | None = Field(default=None, description="the result, for a call that worked")
    error: str | None = Field(default=None, description="what went wrong, for one that did not")


class VapiAnswer(BaseModel):
    """`{"results": [...]}` for `tool-calls`; `{}` for every other message."""

    results: list[VapiResult] | None = None


async def _authenticated(
    request: Request,
    channelId: uuid.UUID,  # noqa: N803 - the path parameter keeps the API's spelling
    _secret: Annotated[str | None, Security(VAPI_SECRET)] = None,
    _bearer: Annotated[Any, Security(voice.CHANNEL_BEARER)] = None,
) -> KnownChannel:
    known = await voice.channel(request, channelId, PLATFORM)
    presented = request.headers.get("x-vapi-secret") or voice.bearer(request)
    if presented is None:
        raise Unauthorized(
            "send the channel secret as 'X-Vapi-Secret: <secret>' or "
            "'Authorization: Bearer <secret>' (set it on the tool's server in Vapi)"
        )
    if not known.secret_matches(presented.strip()):
        raise Unauthorized("the channel secret is not valid for this channel")
    return known


Channel = Annotated[KnownChannel, Depends(_authenticated)]


async def _answer(tools: Tools, call: Call, name: str, call_id: str) -> VapiResult:
    try:
        result: ToolResult = await tools.call(call)
    except Conflict as conflict:  # a reused id, or a first call that never finished
        return VapiResult(name=name, tool_call_id=call_id, error=one_line(conflict.detail))
    text = one_line(result.content)
    if result.ok:
        return VapiResult(name=name, tool_call_id=call_id, result=text)
    return VapiResult(name=name, tool_call_id=call_id, error=text)


@router.post(
    "/hooks/vapi/{channelId}",
    tags=["voice hooks"],
    response_model_exclude_none=True,
    responses={
        401: {"description": "No channel secret, or not this channel's (`unauthorized`)."},
        404: {"description": "No Vapi channel has this id (`not-found`)."},
        429: {"description": "Over the bot's rate limit (`rate-limited`)."},
    },
)
async def vapi_hook(body: VapiServerMessage, channel: Channel, request: Request) -> VapiAnswer:
    """Vapi's server URL for a bot's tools: runs `tool-calls`, acknowledges the rest."""
    message = body.message
    if message.type != "tool-calls":
        return VapiAnswer()
    tools = await voice.tools(request, channel)
    caller = message.caller()
    conversation = message.call.id if message.call is not None else None
    answers = []
    for item in message.calls():
        name = item.function.name
        arguments = item.function.arguments
        call = voice.identified_call(tools.catalog, conversation, item.id, name, arguments, caller)
        answers.append(_answer(tools, call, name, item.id))
    return VapiAnswer(results=list(await asyncio.gather(*answers)))
