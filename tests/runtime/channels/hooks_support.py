"""Helpers of the voice hook tests: channels, and the platforms' own payloads.

Bodies start from the payloads recorded from each platform's documents
(`fixtures/<platform>/*.json`, see `fixtures/responses.md`), changed only where a test
needs its own calls, numbers or ids. Retell requests are signed with Retell's own SDK.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
from retell.lib.webhook_auth import symmetric as retell_webhooks

from tests.factories import Tenant
from tests.runtime.channels.support import fixture

CALLER = "+5511987654321"  # the fixtures' caller, a São Paulo mobile
RETELL_API_KEY = "key_2f8c61e0b9a34d7c8e5f1a2b3c4d5e6f"  # the integrator's, signs requests


async def create_channel(
    tenant: Tenant, bot_id: str, platform: str, name: str | None = None, **fields: Any
) -> dict[str, Any]:
    """`POST …/channels`; the create answer, secret included."""
    body = {"platform": platform, "name": name or f"Front desk ({platform})", **fields}
    if platform == "retell":
        body.setdefault("signingKey", RETELL_API_KEY)
    response = await tenant.api.post(f"/api/v1/bots/{bot_id}/channels", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# ------------------------------------------------------------------------------ Vapi


def vapi_tool_calls(*calls: tuple[str, str, Any], number: str | None = CALLER) -> dict[str, Any]:
    """A `tool-calls` message with these `(id, name, arguments)` calls, in both of the
    lists Vapi sends them in, from the caller `number` (None: a web call)."""
    body = fixture("vapi", "tool-calls")
    message = body["message"]
    template = message["toolWithToolCallList"][0]
    message["toolCallList"] = []
    message["toolWithToolCallList"] = []
    for call_id, name, arguments in calls:
        function = {"name": name, "arguments": arguments}
        call = {"id": call_id, "type": "function", "function": function}
        message["toolCallList"].append(call)
        with_tool = copy.deepcopy(template)
        with_tool["function"]["name"] = name
        with_tool["toolCall"] = copy.deepcopy(call)
        message["toolWithToolCallList"].append(with_tool)
    if number is None:
        message["call"].pop("customer", None)
        message.pop("customer", None)
        message["call"]["type"] = "webCall"
    else:
        message["call"]["customer"]["number"] = number
        message["customer"]["number"] = number
    return body


async def post_vapi(
    client: httpx.AsyncClient,
    channel: dict[str, Any],
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post as Vapi does from a tool's `server.headers`: `X-Vapi-Secret`, unless
    `headers` say otherwise."""
    sent = {"X-Vapi-Secret": channel["secret"]} if headers is None else headers
    return await client.post(channel["url"], json=body, headers=sent)


# ---------------------------------------------------------------------------- Retell


def retell_request(
    name: str,
    args: dict[str, Any],
    call_id: str = "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6",
    *,
    from_number: str | None = CALLER,
    direction: str = "inbound",
) -> dict[str, Any]:
    """A custom-function request of the Retell call `call_id`."""
    body = fixture("retell", "custom-function")
    body["name"] = name
    body["args"] = args
    body["call"]["call_id"] = call_id
    body["call"]["direction"] = direction
    body["call"]["from_number"] = from_number
    return body


def retell_signature(raw: bytes, key: str = RETELL_API_KEY, at_ms: int | None = None) -> str:
    """`X-Retell-Signature` for the raw body, as Retell's SDK makes it."""
    signature: str = retell_webhooks["sign"](raw.decode("utf-8"), key, at_ms)
    return signature


def retell_bytes(body: dict[str, Any]) -> bytes:
    """The body as a platform sends it: compact JSON, not ASCII-escaped."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def post_retell(
    client: httpx.AsyncClient,
    channel: dict[str, Any],
    body: dict[str, Any],
    *,
    key: str = RETELL_API_KEY,
    at_ms: int | None = None,
    timeout: float | None = None,
) -> httpx.Response:
    """Post a signed custom-function request, as Retell does."""
    raw = retell_bytes(body)
    headers = {
        "Content-Type": "application/json",
        "X-Retell-Signature": retell_signature(raw, key, at_ms or int(time.time() * 1000)),
    }
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return await client.post(channel["url"], content=raw, headers=headers, **extra)


# ------------------------------------------------------------------------ ElevenLabs


def elevenlabs_body(
    arguments: dict[str, Any],
    conversation_id: str | None = "conv_7101k2q0m5e9f8h3c4a6b2d1e0f9",
    caller: str | None = CALLER,
) -> dict[str, Any]:
    """A webhook tool's flat body: the arguments and the system dynamic variables."""
    body = fixture("elevenlabs", "webhook-tool")
    for key in [k for k in body if not k.startswith("system__")]:
        del body[key]
    body.update(arguments)
    body["system__conversation_id"] = conversation_id
    body["system__caller_id"] = caller
    return {k: v for k, v in body.items() if v is not None}


async def post_elevenlabs(
    client: httpx.AsyncClient,
    channel: dict[str, Any],
    tool: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post as an exported ElevenLabs webhook tool does: one URL per tool, Bearer secret."""
    sent = {"Authorization": f"Bearer {channel['secret']}"} if headers is None else headers
    return await client.post(f"{channel['url']}/{tool}", json=body, headers=sent)
