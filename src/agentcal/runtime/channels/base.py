"""What every channel shares: whose call, which tools, and running the calls.

A channel is how tool calls arrive (REST, MCP, a voice platform's webhook). Each one
authenticates its caller its own way, then goes through here:
`bot_tools` (or `function_tools`) finds the tools the caller may run, in the catalog
cache, with the idempotency scope of their calls; `Tools.run` runs calls concurrently.
Shaping the answer for the channel's clients is the channel's job.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State
from starlette.types import Scope as HTTPScope

from agentcal import rate_limits
from agentcal.providers.base import ToolResult
from agentcal.runtime import catalog as catalogs
from agentcal.runtime.catalog import Catalog
from agentcal.runtime.executor import Call, Runtime, Scope, execute
from agentcal.tenancy.auth import Principal


@dataclass(frozen=True, slots=True)
class Tools:
    """The tools one caller may run, with the scope their calls are audited and keyed in."""

    runtime: Runtime
    catalog: Catalog
    scope: Scope

    async def run(self, calls: Sequence[Call]) -> list[ToolResult]:
        """Run the calls concurrently; tool failures are results, never exceptions."""
        return list(await asyncio.gather(*(self.call(c) for c in calls)))

    async def call(self, call: Call) -> ToolResult:
        return await execute(self.runtime, self.catalog, self.scope, call)


async def bot_tools(request: HTTPScope, principal: Principal, bot_id: uuid.UUID) -> Tools:
    """The tools of the bot; another institution's bot → 404. Counted against the bot's
    rate limit first (429), once its caller is known."""
    await rate_limits.admit_bot(request, bot_id)
    state: State = request["app"].state
    runtime: Runtime = state.runtime
    tools = await catalogs.bot_catalog(
        runtime.sessionmaker, principal.institution_id, bot_id, state.catalogs
    )
    return Tools(runtime, tools, Scope(principal.institution_id, bot_id, f"bot:{bot_id}"))


async def function_tools(
    state: State, principal: Principal, kind: str, function_id: uuid.UUID
) -> Tools:
    """One function's tools, named as its bot names them; another institution's → 404.

    Its calls have their own idempotency scope and no bot in the audit trail: they are
    the integrator trying the function, not an agent.
    """
    runtime: Runtime = state.runtime
    tools = await catalogs.function_catalog(
        runtime.sessionmaker, kind, principal.institution_id, function_id, state.catalogs
    )
    return Tools(runtime, tools, Scope(principal.institution_id, None, f"{kind}:{function_id}"))


async def _state(request: Request) -> State:  # async: no thread-pool hop
    state: State = request.app.state
    return state


AppState = Annotated[State, Depends(_state)]
__all__ = ["AppState", "Tools", "bot_tools", "function_tools"]
