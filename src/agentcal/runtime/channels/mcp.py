"""The MCP channel at `/mcp/bots/{botId}`: a bot's tools over streamable HTTP.

Served by the official `mcp` SDK (a low-level `Server` behind its
`StreamableHTTPSessionManager`); agentcal supplies only what is its own:

* **Authentication and the bot, before MCP.** `McpEndpoint` checks the Bearer token
  and loads the bot's catalog exactly as the REST endpoints do, so a bad token is a
  401 problem (with `WWW-Authenticate: Bearer`) and another institution's bot a 404,
  answered before the SDK sees the request. What it found rides in the ASGI scope to
  the handlers (`ctx.request.scope`), which the SDK hands the HTTP request of each
  message.
* **Stateless, JSON responses.** Every POST is a whole exchange: no `Mcp-Session-Id`,
  no SSE stream, no session state in the process. So every request is
  authenticated afresh (a revoked token stops working at once, not when a session
  ends), any replica of `agentcal serve --workers N` can answer any request, and
  nothing is lost on restart. The tools need nothing a session would give: they
  send no server-to-client requests and their list changes only with the API.
* **Same tools, same results.** `tools/list` is `GET …/tools?format=mcp`; `tools/call`
  runs `executor.execute` with the REST scope (`bot:{botId}`), and answers the
  REST result: its `content` as text, the whole result as `structuredContent`,
  `isError` when `ok` is false. Tool failures stay results the model can act on,
  unknown tools included (where MCP would allow a protocol error) — as over REST.
* **Idempotency.** A JSON-RPC id is chosen by the client per connection and is not
  kept across a retry, so it keys nothing. A client that wants a call idempotent
  sends its own key in the request's `_meta` under `agentcal/idempotencyKey`
  — the same key space as the REST `id`s of the bot; without one a call simply runs.
  A key reused with other arguments is a JSON-RPC error (the REST API's 409).

The SDK costs about half a second to import, so `agentcal.app` does not import it:
the app's lifespan loads it in a thread while the app already serves (`McpService`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
)
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from agentcal import __version__
from agentcal.errors import AgentcalError
from agentcal.runtime.channels.base import Tools, bot_tools
from agentcal.runtime.executor import Call
from agentcal.runtime.formats import mcp_tools
from agentcal.runtime.idempotency import IdempotencyConflict
from agentcal.tenancy.auth import authenticate

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

log = structlog.get_logger("agentcal.mcp")

PATH = "/mcp/bots/{botId:uuid}"
# `_meta` keys outside the reserved `io.modelcontextprotocol/` prefix are free to use.
IDEMPOTENCY_META_KEY = "agentcal/idempotencyKey"
MAX_KEY_LENGTH = 128  # as for a REST tool call `id`
INSTRUCTIONS = (
    "Scheduling tools of one agentcal bot: check free times and book, cancel or "
    "reschedule meetings. Times without an offset are read in each tool's timezone; "
    "results state the timezone."
)
_SCOPE_KEY = "agentcal.mcp.bot"  # where McpEndpoint leaves the bot for the handlers


class McpEndpoint:
    """The ASGI endpoint: authenticate, find the bot, then hand over to the SDK."""

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        bot_id: uuid.UUID = scope["path_params"]["botId"]
        # Errors raised here (401, 404, a busy database) are answered as problem
        # details by the app's exception handlers, as for any REST endpoint.
        principal = await authenticate(Request(scope, receive))
        tools = await bot_tools(scope, principal, bot_id)
        await app.state.mcp.handle({**scope, _SCOPE_KEY: tools}, receive, send)


def route() -> Route:
    """The route to add to the app; its lifespan must run `run(app)`.

    POST only: stateless, there is no stream to open with GET (the SDK would hold one
    open, silent, for ever) and no session to end with DELETE; 405 tells clients so,
    as the transport's specification provides.
    """
    return Route(PATH, McpEndpoint(), methods=["POST"], include_in_schema=False)


def _mcp_error(code: int, message: str, data: Any = None) -> Exception:
    from mcp.shared.exceptions import MCPError  # a cheap lookup: handlers run once it's loaded

    return MCPError(code, message, data)


def _bot(ctx: ServerRequestContext[Any, Any]) -> Tools:
    request = ctx.request
    bound = request.scope.get(_SCOPE_KEY) if isinstance(request, Request) else None
    if not isinstance(bound, Tools):  # pragma: no cover - only if served without McpEndpoint
        raise _mcp_error(INTERNAL_ERROR, "the MCP server was reached without its bot")
    return bound


def _idempotency_key(params: CallToolRequestParams) -> str | None:
    key = (params.meta or {}).get(IDEMPOTENCY_META_KEY)
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise _mcp_error(
            INVALID_PARAMS,
            f"_meta.{IDEMPOTENCY_META_KEY} must be a string of 1 to {MAX_KEY_LENGTH} characters",
        )
    return key


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListToolsResult:
    """The bot's offered tools, as `GET /api/v1/bots/{botId}/tools?format=mcp` lists them.

    A bot has a handful of tools, so there is one page and no cursor.
    """
    return ListToolsResult(tools=mcp_tools(_bot(ctx).catalog.offered()))


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
) -> CallToolResult:
    """One tool call, run as `POST /api/v1/bots/{botId}/tool-calls` runs it."""
    call = Call(_idempotency_key(params), params.name, params.arguments)
    try:
        result = await _bot(ctx).call(call)
    except IdempotencyConflict as conflict:  # the caller's mistake, not the tool's
        raise _mcp_error(INVALID_PARAMS, conflict.detail, conflict.body()) from None
    return CallToolResult(
        content=[TextContent(type="text", text=result.content)],
        structured_content=result.to_json(),
        is_error=not result.ok,
    )


def build_server() -> Server[Any]:
    """The SDK server with agentcal's two handlers; it holds no state of its own."""
    from mcp.server.lowlevel import Server

    return Server(
        "agentcal",
        version=__version__,
        title="agentcal",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _load_sdk() -> None:
    """Import the SDK's server side (about 0.5 s: `import mcp` loads its client too)."""
    import mcp.server.lowlevel
    import mcp.server.streamable_http_manager  # noqa: F401


class McpUnavailable(AgentcalError):
    """The SDK could not start (a broken installation): MCP is down, REST is not."""

    status_code = 503
    slug = "mcp-unavailable"


class McpService:
    """The SDK's session manager, run for the app's lifetime by a task of its own.

    The manager owns the task group in which each request's MCP exchange runs. A task
    group must be left by the task that entered it, but a lifespan may be started and
    stopped by different tasks (pytest-asyncio's fixtures do so); hence the task.
    The SDK is imported in a thread meanwhile, so the app starts as fast as without
    MCP and serves REST at once: at the first MCP request, or `SDK_GRACE` seconds after
    start-up, whichever comes first. (Importing it at once competed with start-up for
    the GIL: the first `/readyz` came at 2.75 s instead of 1.95 s.) An MCP request
    waits for the import, about a second, once.
    """

    SDK_GRACE = 2.0

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._wanted = asyncio.Event()  # an MCP request came, or it is time
        self._ready = asyncio.Event()  # the manager runs, or could not start
        self._stop = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._holder = asyncio.create_task(self._hold(), name="mcp-session-manager")

    async def _hold(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.SDK_GRACE):
                    await self._wanted.wait()
            if self._stop.is_set():
                return
            await asyncio.to_thread(_load_sdk)
            from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

            # No DNS-rebinding checks (`security_settings`): they guard servers that
            # trust whoever reaches them; this one trusts only a Bearer token, which a
            # page in a browser cannot send to a rebound name.
            manager = StreamableHTTPSessionManager(
                build_server(), json_response=True, stateless=True
            )
            async with manager.run():
                self._manager = manager
                self._ready.set()
                await self._stop.wait()
        except Exception:  # the REST API goes on; MCP requests answer 503
            log.exception("the MCP server failed; MCP requests are answered 503")
        finally:
            self._manager = None
            self._ready.set()

    async def handle(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        self._wanted.set()
        await self._ready.wait()
        if self._manager is None:
            raise McpUnavailable("the MCP server is not running; the log says why")
        await self._manager.handle_request(scope, receive, send)

    async def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._holder is not None:
            await self._holder


@asynccontextmanager
async def run(app: FastAPI) -> AsyncIterator[None]:
    """Serve MCP for as long as the app runs: enter it in the app's lifespan."""
    service = McpService()
    service.start()
    app.state.mcp = service
    try:
        yield
    finally:
        await service.stop()
