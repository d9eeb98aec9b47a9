"""Retell: `POST /hooks/retell/{channelId}`, the URL of a bot's custom functions on Retell.

Retell posts `{"name", "call", "args"}` for each custom-function call: the tool's name,
the call as Retell's Get Call API describes it, and the arguments (nested under `args`:
the functions must leave `args_at_root` off). The answer is
`{"result": "<sentence>", "ok", "data"}` (and `error` when `ok` is false); Retell turns
whatever it gets into a string for its model, up to 15 000 characters.

* Authentication: `X-Retell-Signature: v=<unix ms>,d=<hex>`, where `<hex>` is the
  HMAC-SHA256, keyed with the integrator's Retell API key (the channel's `signingKey`),
  of the raw body followed by the decimal timestamp; a timestamp more than 5 minutes
  from now is refused. This is the check of Retell's own SDK (`retell-sdk`,
  `Retell.verify`), written out here in a few lines rather than depending on the SDK,
  a whole generated API client, for one function; the tests sign with the SDK.
* Exactly once: Retell sends no tool-call id, and retries a request that failed or
  timed out up to 2 times. A call that changes bookings is keyed by `call.call_id`, the
  tool name and the canonical arguments (`voice.derived_key`), so a retry replays the
  first result — also while the first still runs, by waiting for it.
* The caller: `call.from_number` on an inbound call, `call.to_number` on an outbound
  one (the person the agent phoned). Web calls have neither.
* Timeout: a custom function's `timeout_ms` is 2 minutes by default (1 s to 10 min);
  a call gives up after 15 s (`executor.CALL_BUDGET`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agentcal.errors import Unauthorized
from agentcal.kit.routes import JSONRoute
from agentcal.runtime.channels import voice
from agentcal.runtime.channels.voice import SpokenResult
from agentcal.voice.service import KnownChannel

PLATFORM = "retell"
SIGNATURE = re.compile(r"v=(\d+),d=([0-9a-f]{64})")
WINDOW_MS = 5 * 60 * 1000  # how far a signature's time may be from ours, either way

router = APIRouter(route_class=JSONRoute)

# Only for the API document (and Swagger UI): `_authenticated` reads the header itself.
RETELL_SIGNATURE = APIKeyHeader(
    name="X-Retell-Signature",
    auto_error=False,
    scheme_name="retellSignature",
    description="Retell's signature of the request, made with the channel's signing key "
    "(the integrator's Retell API key): `v=<unix ms>,d=<hex HMAC-SHA256>`.",
)

_RETELL = ConfigDict(extra="ignore")
Text = Annotated[str, Field(max_length=512)]


class RetellCall(BaseModel):
    model_config = _RETELL

    call_id: Annotated[str, Field(min_length=1, max_length=512)]
    call_type: Text | None = None
    direction: Text | None = Field(default=None, description="`inbound` or `outbound`")
    from_number: Text | None = None
    to_number: Text | None = None

    def caller(self) -> str | None:
        """The number of the person on the line, not the agent's."""
        return self.to_number if self.direction == "outbound" else self.from_number


class RetellFunctionCall(BaseModel):
    """A Retell custom-function request."""

    model_config = _RETELL

    name: Annotated[str, Field(min_length=1, max_length=64)]
    call: RetellCall
    args: dict[str, JsonValue] | None = None


def signature_valid(body: bytes, key: str, signature: str, now_ms: int) -> bool | None:
    """Whether `signature` signs `body` with `key`; None when it is too old or too new."""
    match = SIGNATURE.fullmatch(signature.strip())
    if match is None:
        return False
    stamp = int(match.group(1))
    if abs(now_ms - stamp) > WINDOW_MS:
        return None
    expected = hmac.new(key.encode("utf-8"), body + str(stamp).encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), match.group(2))


async def _authenticated(
    request: Request,
    channelId: uuid.UUID,  # noqa: N803 - the path parameter keeps the API's spelling
    _signature: Annotated[str | None, Security(RETELL_SIGNATURE)] = None,
) -> KnownChannel:
    known = await voice.channel(request, channelId, PLATFORM)
    signature = request.headers.get("x-retell-signature")
    if not signature:
        raise Unauthorized(
            "send Retell's 'X-Retell-Signature' header: this channel accepts only "
            "requests Retell signed with the API key given as its signingKey"
        )
    if known.signing_key is None:  # pragma: no cover - a Retell channel always has one
        raise Unauthorized("this channel has no signing key; create it again")
    valid = signature_valid(
        await request.body(), known.signing_key, signature, int(time.time() * 1000)
    )
    if valid is None:
        raise Unauthorized(
            "the X-Retell-Signature timestamp is more than 5 minutes from now; "
            "check the clock of the server"
        )
    if not valid:
        raise Unauthorized(
            "the X-Retell-Signature does not match: the channel's signingKey must be the "
            "Retell API key that signs the requests"
        )
    return known


Channel = Annotated[KnownChannel, Depends(_authenticated)]


@router.post(
    "/hooks/retell/{channelId}",
    tags=["voice hooks"],
    response_model_exclude_none=True,
    responses={
        401: {
            "description": "No signature, or not made with the channel's signing key "
            "(`unauthorized`)."
        },
        404: {"description": "No Retell channel has this id (`not-found`)."},
        429: {"description": "Over the bot's rate limit (`rate-limited`)."},
    },
)
async def retell_hook(body: RetellFunctionCall, channel: Channel, request: Request) -> SpokenResult:
    """Retell's custom-function URL for a bot's tools: runs the call, once."""
    tools = await voice.tools(request, channel)
    call = voice.keyed_call(
        tools.catalog, body.name, body.args, body.call.caller(), body.call.call_id
    )
    return SpokenResult.of(await tools.call(call))
