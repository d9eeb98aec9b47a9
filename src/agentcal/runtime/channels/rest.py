"""`…/tools`: the tool definitions of a bot, a function or a Cal.com integration (SPEC §4.1)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from agentcal.runtime import catalog
from agentcal.runtime.catalog import FunctionKind
from agentcal.runtime.channels.base import Catalogs
from agentcal.runtime.formats import render
from agentcal.runtime.schemas import ToolFormat, ToolList
from agentcal.tenancy.auth import CurrentPrincipal

# `response_model_exclude_none`: MCP tools have optional keys (`icons`, `_meta`, …) that
# agentcal leaves unset; they are omitted rather than sent as nulls. It does not reach
# into the JSON Schemas (dict values), which hold no null anyway.
router = APIRouter(tags=["tools"])

FormatParam = Annotated[
    ToolFormat,
    Query(
        alias="format",
        description=(
            "`openai`: Chat Completions `tools` (strict mode); `anthropic`: Messages API "
            "`tools`; `mcp`: MCP `Tool` objects, as `tools/list` gives them"
        ),
    ),
]


def _sessions(request: Request) -> catalog.Sessions:
    sessions: catalog.Sessions = request.app.state.sessionmaker
    return sessions


@router.get("/api/v1/bots/{botId}/tools", response_model_exclude_none=True)
async def bot_tools(
    botId: uuid.UUID,  # noqa: N803 - the path parameter keeps SPEC's name
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    tool_format: FormatParam = ToolFormat.OPENAI,
) -> ToolList:
    """The tools of every active function and integration linked to the bot.

    Names are unique within the bot; switched-off actions and inactive functions
    offer nothing.
    """
    tools = await catalog.bot_catalog(_sessions(request), principal.institution_id, botId, memo)
    return ToolList(tools=render(tools.offered(), tool_format))


@router.get("/api/v1/functions/{id}/tools", response_model_exclude_none=True)
async def function_tools(
    id: uuid.UUID,
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    tool_format: FormatParam = ToolFormat.OPENAI,
) -> ToolList:
    """A Google Calendar function's tools, named as in its bot's tool list."""
    tools = await catalog.function_catalog(
        _sessions(request), FunctionKind.GOOGLE_CALENDAR, principal.institution_id, id, memo
    )
    return ToolList(tools=render(tools.offered(), tool_format))


@router.get("/api/v1/calcom/integration/{id}/tools", response_model_exclude_none=True)
async def integration_tools(
    id: uuid.UUID,
    principal: CurrentPrincipal,
    memo: Catalogs,
    request: Request,
    tool_format: FormatParam = ToolFormat.OPENAI,
) -> ToolList:
    """A Cal.com integration's tools, named as in its bot's tool list."""
    tools = await catalog.function_catalog(
        _sessions(request), FunctionKind.CALCOM, principal.institution_id, id, memo
    )
    return ToolList(tools=render(tools.offered(), tool_format))
