"""What the voice platforms' hooks share: the channel, its bot's tools, the caller.

A voice platform (Vapi, Retell, ElevenLabs) calls `/hooks/{platform}/{channelId}…`
with no access token of the management API: the channel authenticates it. Every hook
goes through the same steps:

1. `channel`: the channel of that id *and platform*, read once and kept briefly
   (`voice.service.channel_cache`). An unknown id, or a channel of another platform,
   is a 404 whatever the credentials: the URL is wrong, and no secret could fix it.
   Channel ids are random UUIDs, so a 404 tells a stranger nothing worth knowing.
2. The platform's own check (a secret in a header, or Retell's signature): 401 naming
   what to send. Failed checks count against the client address, as bad tokens do.
3. `tools`: counted against the bot's rate limit (429), then the bot's catalog in a
   `Scope` of the channel's own: results written to be heard (`voice=True`), and
   idempotency keys in the key space `channel:<id>`.
4. The caller's number, as the platform gives it, becomes the default `attendeePhone`
   of the tools that take one (`with_caller`), in E.164.
5. Each call runs as any other (`executor.execute`); the hook shapes the answer.

Exactly once: a repeat of a call (a platform's retry after its timeout, a barge-in)
replays the first result rather than booking again. Vapi sends a tool-call id: within
its phone call, that is the key. Retell and ElevenLabs send none, so the key is derived
from the platform's call (conversation) id, the tool name and the canonical arguments
(`derived_key`) — for the tools that change bookings, and for 10 minutes. A question
(availability, finding a booking) is asked again instead: within one phone call a
caller may well ask the same question before and after booking, and must not hear the
first answer replayed.

Timeouts: a tool call gives up after `executor.CALL_BUDGET` (15 s), under the tool
timeout of every platform (Vapi 20 s by default, ElevenLabs 20 s, Retell 2 min), so
the platform gets an answer (a result, or a tool error saying the calendar did not
answer in time) before it gives up. If it gives up anyway (a shorter timeout set by
the integrator) and sends the call again, the repeat waits for the first call and
answers its result.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import State

from agentcal import rate_limits
from agentcal.errors import NotFound, ToolError
from agentcal.kit.phones import e164, region_of_zone
from agentcal.providers.base import Action, ToolResult, ToolSpec
from agentcal.runtime import catalog as catalogs
from agentcal.runtime.catalog import Catalog
from agentcal.runtime.channels.base import Tools
from agentcal.runtime.executor import Call, Runtime, Scope, decode_arguments
from agentcal.runtime.voice_formats import definitions
from agentcal.tenancy.auth import bearer_credentials
from agentcal.voice.service import KnownChannel, find_channel

# Only for the API document (and Swagger UI): the hooks read their headers themselves,
# so that a 401 says what is wrong.
CHANNEL_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="channelSecret",
    description="A voice channel's secret: `Authorization: Bearer <secret>`.",
)
PHONE = "attendeePhone"
# The tools whose repeats must not act twice; the others are questions, asked again.
CHANGES = frozenset({Action.CREATE_BOOKING, Action.CANCEL_BOOKING, Action.RESCHEDULE_BOOKING})
MAX_KEY_LENGTH = 128  # a key as long as a REST tool-call id may be
# How long a derived key replays its first result: the platform's retries and a
# barge-in's repeat come within minutes; past that, the same words in the same phone
# call are a new request (booking 10:00 again after cancelling it).
DERIVED_REPLAY = timedelta(minutes=10)


async def channel(request: Request, channel_id: uuid.UUID, platform: str) -> KnownChannel:
    """The channel the hook was called for; 404 if there is none of that platform."""
    state: State = request.app.state
    runtime: Runtime = state.runtime
    known = await find_channel(
        runtime.sessionmaker, runtime.keyring, channel_id, platform, state.voice_channels
    )
    if known is None:
        raise NotFound(f"{platform} channel", channel_id)
    return known


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, if the header has that form."""
    return bearer_credentials(request.headers.get("authorization"))


async def tools(request: Request, known: KnownChannel) -> Tools:
    """The bot's tools, as its channel runs them; counted against the bot's rate limit."""
    await rate_limits.admit_bot(request.scope, known.bot_id)
    state: State = request.app.state
    runtime: Runtime = state.runtime
    catalog = await catalogs.bot_catalog(
        runtime.sessionmaker, known.institution_id, known.bot_id, state.catalogs
    )
    scope = Scope(known.institution_id, known.bot_id, f"channel:{known.id}", voice=True)
    return Tools(runtime, catalog, scope)


async def channel_tools(
    request: Request,
    institution_id: uuid.UUID,
    bot_id: uuid.UUID,
    platform: str,
    url: str,
    secret: str | None,
) -> list[dict[str, Any]]:
    """The bot's offered tools as `platform` imports them, calling the channel at `url`
    with `secret` (the channel's create answer carries them: `app.state.channel_tools`)."""
    state: State = request.app.state
    runtime: Runtime = state.runtime
    catalog = await catalogs.bot_catalog(
        runtime.sessionmaker, institution_id, bot_id, state.catalogs
    )
    return definitions(platform, catalog.offered(), url, secret)


def _decoded(raw: Any) -> dict[str, Any] | None:
    """The arguments as an object, or None if they are not one (the executor says why)."""
    try:
        return decode_arguments(raw)
    except ToolError:
        return None


def with_caller(spec: ToolSpec | None, arguments: dict[str, Any], caller: str | None) -> None:
    """Give the caller's number as `attendeePhone`, in place, to a tool that takes one,
    when the model gave none. A number without a country code is read in the country of
    the tool's calendar; anything that is no valid number (a web call's id) is left out."""
    if spec is None or not caller or not any(p.name == PHONE for p in spec.parameters):
        return
    given = arguments.get(PHONE)
    if given is not None and not (isinstance(given, str) and not given.strip()):
        return  # the model's, even a wrong one: its arguments say what it asked
    phone = e164(caller, region_of_zone(spec.timezone))
    if phone is not None:
        arguments[PHONE] = phone


def derived_key(call_id: str, name: str, arguments: Mapping[str, Any]) -> str:
    """The idempotency key of a call whose platform sends no tool-call id: the same for
    every repeat of it in the same phone call, different for anything else.

    A plain hash: the platform's call id, random and stored nowhere here, is part of
    what is hashed, so the key confirms no guessed attendee.
    """
    # ASCII escapes: any string a JSON body can hold (a lone surrogate too) encodes.
    canonical = json.dumps([call_id, name, arguments], sort_keys=True, separators=(",", ":"))
    return "derived:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def platform_key(call_id: str) -> str:
    """A platform's own tool-call id as a key; hashed if it is longer than a key may be."""
    if len(call_id) <= MAX_KEY_LENGTH:
        return call_id
    return "long:" + hashlib.sha256(call_id.encode("utf-8")).hexdigest()


def keyed_call(
    catalog: Catalog, name: str, raw: Any, caller: str | None, conversation: str | None
) -> Call:
    """A call of a platform that sends no tool-call id, keyed by `derived_key` when it
    changes bookings and the platform named its conversation; the caller's number is
    the default `attendeePhone`."""
    spec = catalog.resolve(name)
    arguments = _decoded(raw)
    if arguments is None:
        return Call(None, name, raw)
    key = None
    if conversation and spec is not None and spec.action in CHANGES:
        key = derived_key(conversation, name, arguments)
    with_caller(spec, arguments, caller)
    return Call(key, name, arguments, replay_for=DERIVED_REPLAY)


def identified_call(
    catalog: Catalog,
    conversation: str | None,
    call_id: str,
    name: str,
    raw: Any,
    caller: str | None,
) -> Call:
    """A call the platform gave an id of its own, which keys it within its conversation
    (tool-call ids come from the model, and a model may number them `call_0`, `call_1`
    in every conversation); the caller's number is the default `attendeePhone`."""
    key = platform_key(f"{conversation}:{call_id}" if conversation else call_id)
    arguments = _decoded(raw)
    if arguments is None:
        return Call(key, name, raw)
    with_caller(catalog.resolve(name), arguments, caller)
    return Call(key, name, arguments)


class SpokenError(BaseModel):
    code: str = Field(description="e.g. `slot_unavailable`, `invalid_datetime`")
    message: str
    retryable: bool


class SpokenResult(BaseModel):
    """A result as Retell and ElevenLabs hand it to their model: the sentence to act on
    (written to be heard), whether it worked, and the full data."""

    result: str = Field(description="the result in a sentence or two, to be heard")
    ok: bool
    data: dict[str, Any] | None = Field(default=None, description="everything, structured")
    error: SpokenError | None = Field(default=None, description="when `ok` is false")

    @classmethod
    def of(cls, result: ToolResult) -> SpokenResult:
        error = result.error
        return cls(
            result=result.content,
            ok=result.ok,
            data=result.data,
            error=SpokenError(code=error.code, message=error.message, retryable=error.retryable)
            if error is not None
            else None,
        )


__all__ = [
    "CHANGES",
    "CHANNEL_BEARER",
    "PHONE",
    "SpokenError",
    "SpokenResult",
    "bearer",
    "channel",
    "channel_tools",
    "derived_key",
    "identified_call",
    "keyed_call",
    "tools",
    "with_caller",
]
