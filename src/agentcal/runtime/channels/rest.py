"""The REST channel: tool lists, and tool calls answered with results.

* `GET /api/v1/bots/{botId}/tools?format=` lists a bot's tools in an agent stack's shape,
  or, for a voice format (`vapi`, `retell`, `elevenlabs`), as tool definitions to import
  into the platform for one of the bot's channels (`channelId`).
* `POST /api/v1/bots/{botId}/tool-calls` takes our `{"toolCalls": [...]}` or an OpenAI
  assistant message's `{"tool_calls": [...]}` as it is, runs the calls concurrently and
  answers `results` plus `messages` ready to append to the conversation. An
  `Idempotency-Key` header keys a single call that has no id of its own.
* Each provider's functions get `{path}/{id}/tools` and `{path}/{id}/call` (one action,
  `{"name": "<action>", "arguments"}`) under its management path: `function_routes`
  makes them for every registered provider, so a new one has them without a line here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from agentcal.errors import InvalidInput
from agentcal.kit.routes import JSONRoute
from agentcal.providers.base import Action, Provider
from agentcal.runtime.channels.base import AppState, bot_tools, function_tools
from agentcal.runtime.executor import Call
from agentcal.runtime.formats import render
from agentcal.runtime.schemas import AgentFormat, ToolFormat, ToolList
from agentcal.runtime.voice_formats import voice_tools
from agentcal.tenancy.auth import CurrentPrincipal, Principal
from agentcal.voice import service as channels
from agentcal.voice.models import Channel

# `response_model_exclude_none` on the tool lists: MCP tools have optional keys
# (`icons`, `_meta`, …) that agentcal leaves unset; they are omitted rather than sent
# as nulls. It does not reach into the JSON Schemas (dict values), which hold no null.
router = APIRouter(route_class=JSONRoute)
MAX_CALLS = 20  # per request: a model asking for more is looping

FormatParam = Annotated[
    AgentFormat,
    Query(
        alias="format",
        description=(
            "`openai`: Chat Completions `tools` (strict mode); `anthropic`: Messages API "
            "`tools`; `mcp`: MCP `Tool` objects, as `tools/list` gives them"
        ),
    ),
]
BotFormatParam = Annotated[
    ToolFormat,
    Query(
        alias="format",
        description=(
            "`openai`: Chat Completions `tools` (strict mode); `anthropic`: Messages API "
            "`tools`; `mcp`: MCP `Tool` objects, as `tools/list` gives them. `vapi`, "
            "`retell`, `elevenlabs`: tool definitions to import into that voice platform, "
            "calling one of the bot's channels (`channelId`)"
        ),
    ),
]
ChannelParam = Annotated[
    uuid.UUID | None,
    Query(
        alias="channelId",
        description=(
            "Voice formats only: the bot's channel of that platform the tools call. "
            "Optional when the bot has exactly one channel of the platform"
        ),
    ),
]
Arguments = dict[str, JsonValue] | str | None
CallId = Annotated[str, Field(min_length=1, max_length=128)]
ToolName = Annotated[str, Field(min_length=1, max_length=64)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
# What only tool calls answer; `kit.openapi` documents the rest of each route's errors.
REUSED_KEY: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A call id (or `Idempotency-Key`) already used with other arguments, "
        "or whose first call is still running (`conflict`). A tool's own failures are "
        "results with `ok: false`, not errors."
    }
}


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: CallId | None = None
    name: ToolName
    arguments: Arguments = None


class _OpenAIFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: ToolName
    arguments: Arguments = None


class OpenAIToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: CallId
    type: Literal["function"] = "function"
    function: _OpenAIFunction


OurCalls = Annotated[list[ToolCallIn], Field(min_length=1, max_length=MAX_CALLS)]
OpenAICalls = Annotated[list[OpenAIToolCall], Field(min_length=1, max_length=MAX_CALLS)]


def _sent(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": "array"}}}


class ToolCallsIn(BaseModel):
    """Either form; an OpenAI assistant message may carry `role` and `content` too."""

    # The document says what `_one_form` checks: exactly one of the two lists.
    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        json_schema_extra={"oneOf": [_sent("toolCalls"), _sent("tool_calls")]},
    )

    tool_calls_ours: OurCalls | None = Field(default=None, alias="toolCalls")
    tool_calls: OpenAICalls | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ToolCallsIn:
        if (self.tool_calls_ours is None) == (self.tool_calls is None):
            raise ValueError("send either `toolCalls` or an OpenAI message's `tool_calls`")
        return self

    def calls(self) -> list[Call]:
        if self.tool_calls is not None:
            return [Call(c.id, c.function.name, c.function.arguments) for c in self.tool_calls]
        return [Call(c.id, c.name, c.arguments) for c in self.tool_calls_ours or []]


class SingleCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Action
    arguments: Arguments = None
    id: CallId | None = None


class ToolCallsOut(BaseModel):
    results: list[dict[str, Any]]
    messages: list[dict[str, Any]]


def _keyed(calls: list[Call], key: str | None) -> list[Call]:
    if key is None:
        return calls
    if len(calls) != 1:
        raise InvalidInput("Idempotency-Key", "keys one call; give each call its own `id`")
    call = calls[0]
    return [Call(call.id or key, call.name, call.arguments)]


@router.get(
    "/api/v1/bots/{botId}/tools", name="bot_tools", tags=["tools"], response_model_exclude_none=True
)
async def bot_tools_list(
    botId: uuid.UUID,  # noqa: N803 - the path parameter keeps the seed's name
    principal: CurrentPrincipal,
    request: Request,
    tool_format: BotFormatParam = ToolFormat.OPENAI,
    channel_id: ChannelParam = None,
) -> ToolList:
    """The tools of every active function and integration linked to the bot.

    Names are unique within the bot; switched-off actions and inactive functions
    offer nothing. The voice formats carry the channel's URL and how the platform
    authenticates there; the channel secret, shown only when the channel was created,
    appears as `<CHANNEL_SECRET>` (and ElevenLabs' workspace secret as
    `<ELEVENLABS_SECRET_ID>`) for the integrator to fill in.
    """
    tools = await bot_tools(request.scope, principal, botId)
    if tool_format.voice:
        channel = await _voice_channel(request, principal, botId, tool_format, channel_id)
        url = channels.channel_url(
            str(request.base_url), channel, request.app.state.settings.public_url
        )
        return ToolList(tools=voice_tools(tool_format, tools.catalog.offered(), url))
    if channel_id is not None:
        raise InvalidInput("channelId", "is for the voice formats (vapi, retell, elevenlabs)")
    return ToolList(tools=render(tools.catalog.offered(), tool_format))


async def _voice_channel(
    request: Request,
    principal: Principal,
    bot_id: uuid.UUID,
    platform: ToolFormat,
    channel_id: uuid.UUID | None,
) -> Channel:
    """The bot's channel the export is for: `channel_id`, or the bot's only channel of
    `platform`. Anything else is a 422 naming `channelId`, another bot's channel too."""
    async with request.app.state.runtime.sessionmaker() as session:
        found = await channels.list_channels(session, principal.institution_id, bot_id)
    if channel_id is not None:
        channel = next((c for c in found if c.id == channel_id), None)
        if channel is None:
            raise InvalidInput("channelId", f"the bot has no channel {channel_id}")
        if channel.platform != platform:
            raise InvalidInput(
                "channelId",
                f"is a {channel.platform} channel; ask format={channel.platform}, "
                f"or name one of the bot's {platform} channels",
            )
        return channel
    mine = [c for c in found if c.platform == platform]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise InvalidInput(
            "channelId",
            f"the bot has no {platform} channel; create one with "
            f"POST /api/v1/bots/{bot_id}/channels",
        )
    raise InvalidInput(
        "channelId", f"the bot has {len(mine)} {platform} channels; name the one to export"
    )


@router.post("/api/v1/bots/{botId}/tool-calls", tags=["tool calls"], responses=REUSED_KEY)
async def bot_tool_calls(
    botId: uuid.UUID,  # noqa: N803 - the path parameter keeps the seed's name
    body: ToolCallsIn,
    principal: CurrentPrincipal,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> ToolCallsOut:
    """Run a bot's tool calls, concurrently; failures of the tools are results."""
    tools = await bot_tools(request.scope, principal, botId)
    results = await tools.run(_keyed(body.calls(), idempotency_key))
    return ToolCallsOut(
        results=[r.to_json() for r in results], messages=[r.message() for r in results]
    )


def function_routes(providers: Iterable[Provider]) -> APIRouter:
    """`{path}/{id}/tools` and `{path}/{id}/call` for the functions of each provider."""
    router = APIRouter(route_class=JSONRoute)
    for provider in providers:
        _add_function_routes(router, provider)
    return router


def _add_function_routes(router: APIRouter, provider: Provider) -> None:
    what = f"{provider.label} {provider.noun}"

    async def list_tools(
        id: uuid.UUID,
        principal: CurrentPrincipal,
        state: AppState,
        tool_format: FormatParam = "openai",
    ) -> ToolList:
        tools = await function_tools(state, principal, provider.kind, id)
        return ToolList(tools=render(tools.catalog.offered(), ToolFormat(tool_format)))

    async def call(
        id: uuid.UUID,
        body: SingleCallIn,
        principal: CurrentPrincipal,
        state: AppState,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        tools = await function_tools(state, principal, provider.kind, id)
        spec = tools.catalog.find(provider.kind, id, body.name)
        name = spec.name if spec else body.name.value
        result = await tools.call(Call(body.id or idempotency_key, name, body.arguments))
        return result.to_json()

    listed = f"A {what}'s tools, named as in its bot's tool list."
    run = f'Run one action of a {what}: `{{"name": "<action>", "arguments"}}`.'
    endpoints: list[tuple[str, str, Callable[..., Awaitable[Any]], str, str]] = [
        ("GET", "tools", list_tools, "tools", listed),
        ("POST", "call", call, "tool calls", run),
    ]
    for method, leaf, endpoint, tag, summary in endpoints:
        router.add_api_route(
            f"{provider.path}/{{id}}/{leaf}",
            endpoint,
            methods=[method],
            name=f"{provider.noun}_{leaf}",
            tags=[tag],
            description=summary,
            response_model_exclude_none=leaf == "tools",
            responses=REUSED_KEY if leaf == "call" else None,
        )
