"""Sending one notification: to a webhook (signed), to Discord, or to Telegram.

Each attempt ends in one of three ways (`Sent`): delivered; to be retried (time-outs,
connection failures, 408, 429 and 5xx, the receiver's `Retry-After` or `retry_after`
honoured); or dead, when trying again cannot help (any other 4xx, a redirect, a target
the address guard refuses, a function deleted or no longer notifying). A reason says
which, and never names the target, which is the integrator's secret.

* Webhook: `POST` of the JSON document with the Standard Webhooks headers
  (`webhook-id`, the same for every attempt; `webhook-timestamp`; `webhook-signature`
  by the function's `whsec_` secret), through the address guard.
* Discord: execute webhook (`POST {discord_api_url}/webhooks/{id}/{token}?wait=true`)
  with `content`, or for JSON content an embed; mentions are never parsed, so an
  attendee named "@everyone" pings nobody.
* Telegram: `sendMessage` (`POST {telegram_api_url}/bot{token}/sendMessage`).

Discord and Telegram are reached at the operator's configured API URLs, never at an
address from the target: the target only supplies the webhook id and token, or the
bot token and chat.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from standardwebhooks import Webhook

from agentcal.notifications import addresses
from agentcal.settings import Settings

READ_CAP = 64 * 1024  # bytes of an answer read: enough for any error, bounded for a hostile one
DISCORD_CONTENT_MAX = 2000
TELEGRAM_TEXT_MAX = 4096
RETRY_AFTER_MAX = 3600.0

# As `targets.TARGET_PATTERNS` accepts them; a `thread_id` posts into a thread.
_DISCORD_TARGET = re.compile(
    r"https://[^/]+/api/webhooks/([0-9]{1,30})/([A-Za-z0-9_-]{1,200})/?"
    r"(?:\?thread_id=([0-9]{1,30}))?"
)
_TELEGRAM_TARGET = re.compile(r"([0-9]+:[A-Za-z0-9_-]+):(-?[0-9]+|@[A-Za-z0-9_]+)")
_EVENT_TITLES = {
    "booking.created": "Booking created",
    "booking.cancelled": "Booking cancelled",
    "booking.rescheduled": "Booking moved",
}


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a function's notifications go, opened from its settings at send time."""

    channel: str  # webhook, discord, telegram
    target: str
    secret: str | None = None  # the webhook signing secret


class Undeliverable(Exception):
    """The notification cannot be sent, now or later: its reason ends it as dead."""


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: Literal["delivered", "retry", "dead"]
    reason: str | None = None
    retry_after: float = 0.0  # at least this long before the next attempt


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: httpx.Response, body: Any) -> float:
    """Seconds the receiver asked to wait: Discord's and Telegram's body fields, or the
    `Retry-After` header (seconds or an HTTP date); 0 when it said nothing usable."""
    if isinstance(body, dict):
        parameters = body.get("parameters")
        nested = parameters.get("retry_after") if isinstance(parameters, dict) else None
        for value in (body.get("retry_after"), nested):
            if isinstance(value, int | float) and 0 <= value < float("inf"):
                return min(float(value), RETRY_AFTER_MAX)
    header = response.headers.get("retry-after", "")
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return 0.0
        if when.tzinfo is None:  # "-0000": UTC, of unknown origin
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not 0 <= seconds < float("inf"):
        return 0.0
    return min(seconds, RETRY_AFTER_MAX)


def _refusal(channel: str, status: int, body: Any) -> str:
    if channel == "discord" and isinstance(body, dict) and "message" in body:
        return f"Discord refused the message: {_clip(str(body['message']), 200)} (HTTP {status})"
    if channel == "telegram" and isinstance(body, dict) and "description" in body:
        return f"Telegram refused the message: {_clip(str(body['description']), 200)}"
    return f"the webhook receiver answered HTTP {status}"


class Senders:
    """The HTTP clients of deliveries, owned by a worker."""

    def __init__(self, settings: Settings) -> None:
        timeout = settings.notification_timeout_seconds
        self._guarded = addresses.client(timeout, guarded=not settings.notifications_allow_private)
        self._platforms = addresses.client(timeout, guarded=False)
        self._discord = settings.discord_api_url.rstrip("/")
        self._telegram = settings.telegram_api_url.rstrip("/")
        self._timeout = timeout

    async def aclose(self) -> None:
        await self._guarded.aclose()
        await self._platforms.aclose()

    async def send(self, destination: Destination, webhook_id: str, payload: str) -> Sent:
        """One attempt, over within the time-out as a whole (httpx's time-outs bound each
        read and write, not a receiver dripping its answer): a claim outlives it."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(destination, webhook_id, payload)
        except TimeoutError:
            return Sent("retry", f"no answer within {self._timeout:g} s")

    async def _send(self, destination: Destination, webhook_id: str, payload: str) -> Sent:
        channel = destination.channel
        try:
            if channel == "webhook":
                return await self._webhook(destination, webhook_id, payload)
            if channel == "discord":
                return await self._discord_execute(destination, payload)
            if channel == "telegram":
                return await self._telegram_send(destination, payload)
        except addresses.ForbiddenTarget as exc:
            return Sent("dead", f"forbidden-target: {exc}")
        except Undeliverable as exc:
            return Sent("dead", str(exc))
        except httpx.InvalidURL:
            return Sent("dead", f"bad-target: the {channel} target is not a URL agentcal can use")
        except httpx.TimeoutException:
            return Sent("retry", f"no answer within {self._timeout:g} s")
        except httpx.TransportError as exc:
            return Sent("retry", f"could not reach the {channel} target ({type(exc).__name__})")
        return Sent("dead", f"unknown channel {channel!r}")

    async def _post(
        self, client: httpx.AsyncClient, channel: str, url: str, **request: Any
    ) -> Sent:
        async with client.stream("POST", url, **request) as response:
            raw = b""
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= READ_CAP:
                    break
        status = response.status_code
        if 200 <= status < 300:
            return Sent("delivered")
        try:  # read for the refusal's reason or the wait it asks for, never trusted
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            body = None
        if status == 429 or status == 408 or status >= 500:
            wait = _retry_after(response, body)
            what = "rate limited" if status == 429 else "failed"
            return Sent("retry", f"the {channel} target {what} (HTTP {status})", wait)
        if 300 <= status < 400:
            return Sent(
                "dead",
                f"the target redirects (HTTP {status}); redirects are not followed: "
                "set the target to the final URL",
            )
        return Sent("dead", _refusal(channel, status, body))

    async def _webhook(self, destination: Destination, webhook_id: str, payload: str) -> Sent:
        if not destination.secret:
            raise Undeliverable(
                "no-secret: the function has no signing secret (saved before there were "
                "any); make one with POST /api/v1/functions/{id}/notification-secret"
            )
        now = datetime.now(UTC)
        signature = Webhook(destination.secret).sign(webhook_id, now, payload)
        headers = {
            "content-type": "application/json",
            "user-agent": "agentcal-webhooks",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        return await self._post(
            self._guarded, "webhook", destination.target, content=payload.encode(), headers=headers
        )

    async def _discord_execute(self, destination: Destination, payload: str) -> Sent:
        found = _DISCORD_TARGET.fullmatch(destination.target)
        if found is None:
            raise Undeliverable("bad-target: the Discord target is not a webhook URL")
        webhook, token, thread = found.groups()
        document = json.loads(payload)
        content = document["data"].get("content")
        message: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        if isinstance(content, str):
            message["content"] = _clip(content.strip() or _plain(document), DISCORD_CONTENT_MAX)
        else:
            message["embeds"] = [_embed(document)]
        params = {"wait": "true"} | ({"thread_id": thread} if thread else {})
        url = f"{self._discord}/webhooks/{webhook}/{token}"
        return await self._post(self._platforms, "discord", url, params=params, json=message)

    async def _telegram_send(self, destination: Destination, payload: str) -> Sent:
        found = _TELEGRAM_TARGET.fullmatch(destination.target)
        if found is None:
            raise Undeliverable("bad-target: the Telegram target is not 'botToken:chatId'")
        token, chat = found.groups()
        document = json.loads(payload)
        content = document["data"].get("content")
        if not isinstance(content, str):
            content = json.dumps(content, indent=2, ensure_ascii=False)
        content = content.strip() or _plain(document)
        message = {"chat_id": chat, "text": _clip(content, TELEGRAM_TEXT_MAX)}
        url = f"{self._telegram}/bot{token}/sendMessage"
        return await self._post(self._platforms, "telegram", url, json=message)


def _plain(document: dict[str, Any]) -> str:
    """What a chat says when the template rendered to nothing (it held only, say,
    `{{meetLink}}` and there was no link): an empty message would be refused."""
    title = _EVENT_TITLES.get(document["type"], document["type"])
    return f"{title}: {document['data'].get('start')} ({document['data'].get('bookingId')})"


def _embed(document: dict[str, Any]) -> dict[str, Any]:
    """A Discord embed of a JSON notification: the booking's facts as fields, the JSON
    content itself as the description."""
    data = document["data"]
    title = _EVENT_TITLES.get(document["type"], document["type"])
    if data.get("title"):
        title = f"{title}: {data['title']}"
    fields = [
        {"name": name, "value": _clip(str(data[key]), 1024), "inline": inline}
        for name, key, inline in (
            ("Start", "start", True),
            ("End", "end", True),
            ("Attendee", "attendeeName", True),
            ("E-mail", "attendeeEmail", True),
            ("Booking id", "bookingId", False),
            ("Meet link", "meetLink", False),
        )
        if data.get(key)
    ]
    described = json.dumps(data.get("content"), indent=2, ensure_ascii=False)
    return {
        "title": _clip(title, 256),
        "description": _clip(f"```json\n{described}\n```", 4096),
        "fields": fields,
        "timestamp": document["timestamp"],
    }
