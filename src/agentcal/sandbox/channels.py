"""Notification channels to deliver to with no account: Discord, Telegram, a webhook sink.

* Discord at `/discord/api/webhooks/{id}/{token}` executes a webhook as Discord does:
  `content` (at most 2 000 characters) and/or `embeds` (at most 10), 204 No Content, or
  the message with `?wait=true`; its errors carry Discord's `{"message", "code"}`
  (`10015` unknown webhook, `50006` empty message, `50035` invalid form body).
* Telegram at `/telegram/bot{token}/sendMessage` answers as the Bot API does:
  `{"ok": true, "result": Message}`, or `{"ok": false, "error_code", "description"}`
  (401 for an unknown token, 400 for an unknown chat, an empty or over-long text).
* The webhook sink at `/sandbox/webhooks/{name}` takes anything and records the
  method, the headers and the body, for tests and newcomers to look at
  (`GET /sandbox/webhooks/{name}`); `?answers=500,410` makes it answer its first
  requests with those statuses, as a failing receiver does.

The sink takes faults too (a receiver answering 500 or 410, or hanging). Each
platform's 429 comes from a sandbox fault on its path (`/sandbox/faults` with
`status: 429` and `retryAfter`), in its own shape: Discord's `retry_after` in the body
and the header, Telegram's `parameters.retry_after`. `/sandbox/discord/webhooks` and
`/sandbox/telegram/bots` make targets to deliver to, and list what each received.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

DISCORD_CONTENT_MAX = 2000
DISCORD_EMBEDS_MAX = 10
TELEGRAM_TEXT_MAX = 4096


@dataclass
class DiscordWebhook:
    id: str
    token: str
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TelegramBot:
    token: str
    chat_id: int
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Received:
    """One request the webhook sink took."""

    method: str
    headers: dict[str, str]
    body: str
    at: float
    status: int = 200  # what the sink answered

    def output(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "headers": self.headers,
            "body": self.body,
            "at": self.at,
            "status": self.status,
        }


@dataclass
class ChannelsState:
    discord: dict[str, DiscordWebhook] = field(default_factory=dict)
    telegram: dict[str, TelegramBot] = field(default_factory=dict)
    sink: dict[str, list[Received]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)


def discord_error(status: int, message: str, code: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, "code": code, **extra}, status_code=status)


def telegram_error(status: int, description: str, **extra: Any) -> JSONResponse:
    body = {"ok": False, "error_code": status, "description": description, **extra}
    return JSONResponse(body, status_code=status)


def platform_error(path: str, status: int, retry_after: float | None) -> dict[str, Any] | None:
    """A fault's body in the shape of the platform `path` belongs to, or None."""
    wait = retry_after if retry_after is not None else 1.0
    if path.startswith("/discord/"):
        if status == 429:
            return {"message": "You are being rate limited.", "retry_after": wait, "global": False}
        return {"message": f"{status}: Sandbox fault", "code": 0}
    if path.startswith("/telegram/"):
        if status == 429:
            return {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {wait:g}",
                "parameters": {"retry_after": wait},
            }
        return {"ok": False, "error_code": status, "description": f"Sandbox fault: HTTP {status}"}
    if path.startswith("/sandbox/webhooks/"):
        return {"error": f"Sandbox fault: HTTP {status}"}
    return None


class _Embed(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=4096)


class _ExecuteIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    content: str | None = None
    username: str | None = None
    embeds: list[_Embed] | None = None


def create_discord_api(state: ChannelsState) -> APIRouter:
    router = APIRouter(prefix="/discord/api", tags=["Discord sandbox"])

    @router.post("/webhooks/{webhook_id}/{token}", response_model=None)
    async def execute(
        webhook_id: str,
        token: str,
        request: Request,
        wait: bool = False,
        thread_id: str | None = None,
    ) -> Response | dict[str, Any]:
        webhook = state.discord.get(webhook_id)
        if webhook is None or not secrets.compare_digest(webhook.token, token):
            return discord_error(404, "Unknown Webhook", 10015)
        try:
            body = _ExecuteIn.model_validate(await request.json())
        except ValueError:
            return discord_error(400, "Invalid Form Body", 50035, errors={})
        if not body.content and not body.embeds:
            return discord_error(400, "Cannot send an empty message", 50006)
        if body.content and len(body.content) > DISCORD_CONTENT_MAX:
            errors = {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}
            return discord_error(400, "Invalid Form Body", 50035, errors=errors)
        if body.embeds and len(body.embeds) > DISCORD_EMBEDS_MAX:
            errors = {"embeds": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}
            return discord_error(400, "Invalid Form Body", 50035, errors=errors)
        message = {
            "id": str(10**17 + state.next_id()),
            "type": 0,
            "channel_id": thread_id or str(10**17),  # a thread is a channel of its own
            "webhook_id": webhook.id,
            "content": body.content or "",
            "embeds": [e.model_dump(exclude_none=True) for e in body.embeds or []],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        }
        webhook.messages.append(message)
        return message if wait else Response(status_code=204)

    return router


class _SendMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    chat_id: int | str
    text: str | None = None


def create_telegram_api(state: ChannelsState) -> APIRouter:
    router = APIRouter(prefix="/telegram", tags=["Telegram sandbox"])

    @router.post("/bot{token}/sendMessage", response_model=None)
    async def send_message(token: str, request: Request) -> JSONResponse | dict[str, Any]:
        bot = state.telegram.get(token)
        if bot is None:
            return telegram_error(401, "Unauthorized")
        try:
            body = _SendMessageIn.model_validate(await request.json())
        except ValueError:
            return telegram_error(400, "Bad Request: chat_id is empty")
        if str(body.chat_id) != str(bot.chat_id):
            return telegram_error(400, "Bad Request: chat not found")
        if not body.text or not body.text.strip():
            return telegram_error(400, "Bad Request: message text is empty")
        if len(body.text) > TELEGRAM_TEXT_MAX:
            return telegram_error(400, "Bad Request: message is too long")
        message = {
            "message_id": state.next_id(),
            "date": int(time.time()),
            "chat": {"id": bot.chat_id, "type": "private"},
            "text": body.text,
        }
        bot.messages.append(message)
        return {"ok": True, "result": message}

    return router


def create_channels_admin(state: ChannelsState) -> APIRouter:
    """`/sandbox/...`: targets to deliver to, what each received, and the sink."""
    router = APIRouter(prefix="/sandbox", tags=["channel sandboxes"])

    @router.post("/discord/webhooks", status_code=201)
    async def add_discord_webhook(request: Request) -> dict[str, str]:
        webhook = DiscordWebhook(str(10**17 + state.next_id()), secrets.token_urlsafe(32))
        state.discord[webhook.id] = webhook
        base = str(request.base_url).rstrip("/")
        url = f"{base}/discord/api/webhooks/{webhook.id}/{webhook.token}"
        return {"id": webhook.id, "token": webhook.token, "url": url}

    @router.get("/discord/webhooks/{webhook_id}/messages")
    async def discord_messages(webhook_id: str) -> dict[str, list[dict[str, Any]]]:
        webhook = state.discord.get(webhook_id)
        return {"messages": list(webhook.messages) if webhook else []}

    @router.post("/telegram/bots", status_code=201)
    async def add_telegram_bot() -> dict[str, Any]:
        number = state.next_id()
        token = f"{6_000_000_000 + number}:{secrets.token_urlsafe(26)[:35]}"
        bot = TelegramBot(token, -1_001_000_000_000 - number)
        state.telegram[token] = bot
        return {"token": token, "chatId": bot.chat_id, "target": f"{token}:{bot.chat_id}"}

    @router.get("/telegram/bots/{token}/messages")
    async def telegram_messages(token: str) -> dict[str, list[dict[str, Any]]]:
        bot = state.telegram.get(token)
        return {"messages": list(bot.messages) if bot else []}

    @router.api_route("/webhooks/{name}", methods=["POST", "PUT"], response_model=None)
    async def sink(name: str, request: Request, answers: str = "") -> JSONResponse:
        """Record the request; `?answers=500,410` answers the sink's first requests
        with those statuses (a receiver that fails), then 200."""
        got = state.sink.setdefault(name, [])
        planned = [int(a) for a in answers.split(",") if a.strip().isdigit()]
        status = planned[len(got)] if len(got) < len(planned) else 200
        received = Received(
            request.method,
            dict(request.headers),
            (await request.body()).decode("utf-8", "replace"),
            time.time(),
            status,
        )
        got.append(received)
        return JSONResponse({"received": status < 400}, status_code=status)

    @router.get("/webhooks/{name}")
    async def sink_received(name: str) -> dict[str, list[dict[str, Any]]]:
        return {"received": [r.output() for r in state.sink.get(name, [])]}

    return router
