"""`POST …/tool-calls` and `…/call`: agents send tool calls, agentcal answers results.

`POST /api/v1/bots/{botId}/tool-calls` takes our `{"toolCalls": [...]}` or an OpenAI
assistant message's `{"tool_calls": [...]}` as it is, runs the calls concurrently and
answers `results` plus `messages` ready to append to the conversation (SPEC §4.2).
An `Idempotency-Key` header keys a single call that has no id of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from agentcal.errors import InvalidInput
from agentcal.runtime import catalog as catalogs
from agentcal.runtime.catalog import Action, Catalog, CatalogMemo, FunctionKind
from agentcal.runtime.channels.base import Catalogs
from agentcal.runtime.executor import Call, Runtime, Scope, execute, tool_message
from agentcal.tenancy.auth import CurrentPrincipal

router = APIRouter(tags=["tool calls"])
MAX_CALLS = 20  # per request: a model asking for more is looping

Arguments = dict[str, JsonValue] | str | None


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=64)]
    arguments: Arguments = None


class _OpenAIFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    arguments: Arguments = None


class OpenAIToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=128)]
    type: Literal["function"] = "function"
    function: _OpenAIFunction


OurCalls = Annotated[list[ToolCallIn], Field(min_length=1, max_length=MAX_CALLS)]
OpenAICalls = Annotated[list[OpenAIToolCall], Field(min_length=1, max_length=MAX_CALLS)]


class ToolCallsIn(BaseModel):
    """Either form; an OpenAI assistant message may carry `role` and `content` too."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

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
    id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class ToolCallsOut(BaseModel):
    results: list[dict[str, Any]]
    messages: list[dict[str, Any]]


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _run_all(
    runtime: Runtime, tools: Catalog, scope: Scope, calls: list[Call]
) -> ToolCallsOut:
    results = await asyncio.gather(*(execute(runtime, tools, scope, call) for call in calls))
    return ToolCallsOut(results=list(results), messages=[tool_message(r) for r in results])


def _keyed(calls: list[Call], key: str | None) -> list[Call]:
    if key is None:
        return calls
    if len(calls) != 1:
        raise InvalidInput("Idempotency-Key", "keys one call; give each call its own `id`")
    call = calls[0]
    return [Call(call.id or key, call.name, call.arguments)]


@router.post("/api/v1/bots/{botId}/tool-calls")
async def bot_tool_calls(
    botId: uuid.UUID,  # noqa: N803 - SPEC's name
    body: ToolCallsIn,
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> ToolCallsOut:
    """Run a bot's tool calls, concurrently; failures of the tools are results."""
    sessions = request.app.state.sessionmaker
    tools = await catalogs.bot_catalog(sessions, principal.institution_id, botId, memo)
    scope = Scope(principal.institution_id, botId, f"bot:{botId}")
    return await _run_all(_runtime(request), tools, scope, _keyed(body.calls(), idempotency_key))


async def _single(
    kind: FunctionKind, function_id: uuid.UUID, body: SingleCallIn, principal: Any,
    memo: CatalogMemo, request: Request, key: str | None,
) -> dict[str, Any]:  # fmt: skip
    sessions = request.app.state.sessionmaker
    tools = await catalogs.function_catalog(
        sessions, kind, principal.institution_id, function_id, memo
    )
    spec = tools.find(kind, function_id, body.name)
    name = spec.name if spec else body.name.value
    scope = Scope(principal.institution_id, None, f"{kind.value}:{function_id}")
    call = Call(body.id or key, name, body.arguments)
    return await execute(_runtime(request), tools, scope, call)


@router.post("/api/v1/functions/{id}/call")
async def function_call(
    id: uuid.UUID,
    body: SingleCallIn,
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Run one action of a Google Calendar function: `{"name": "<action>", "arguments"}`."""
    return await _single(
        FunctionKind.GOOGLE_CALENDAR, id, body, principal, memo, request, idempotency_key
    )


@router.post("/api/v1/calcom/integration/{id}/call")
async def integration_call(
    id: uuid.UUID,
    body: SingleCallIn,
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Run one action of a Cal.com integration: `{"name": "<action>", "arguments"}`."""
    return await _single(FunctionKind.CALCOM, id, body, principal, memo, request, idempotency_key)
