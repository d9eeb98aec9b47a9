"""Request and response bodies of voice channels."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agentcal.kit.validation import REQUEST_CONFIG, RESPONSE_CONFIG, Name, Secret

Platform = Literal["vapi", "retell", "elevenlabs"]
PLATFORMS: tuple[Platform, ...] = ("vapi", "retell", "elevenlabs")
# The one platform that signs its requests, with a key the integrator gives us.
SIGNS = "retell"

# What the document says `_signing_key` checks: required for Retell, absent elsewhere.
_SIGNING_KEY_RULE: dict[str, Any] = {
    "if": {"properties": {"platform": {"const": SIGNS}}, "required": ["platform"]},
    "then": {"required": ["signingKey"], "properties": {"signingKey": {"type": "string"}}},
    "else": {"properties": {"signingKey": {"type": "null"}}},
}


class ChannelWrite(BaseModel):
    model_config = ConfigDict(**REQUEST_CONFIG, json_schema_extra=_SIGNING_KEY_RULE)

    platform: Platform = Field(description="The voice platform that will call the channel.")
    name: Name = Field(description="The integrator's name for it, e.g. `Front desk (Vapi)`.")
    signing_key: Secret | None = Field(
        default=None,
        description="Retell only, and required there: the Retell API key that signs the "
        "requests (`X-Retell-Signature`). Stored encrypted, never shown again.",
    )

    @field_validator("signing_key", mode="after")
    @classmethod
    def _only_retell(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Required for Retell: `service.create_channel` says so (a missing field has no
        # place of its own in a validator's error).
        platform = info.data.get("platform")
        if platform is not None and platform != SIGNS and value is not None:
            raise ValueError(
                f"only Retell signs its requests; a {platform} channel authenticates with "
                "the channel secret, so leave signingKey out"
            )
        return value


class ChannelRead(BaseModel):
    """A channel as listed: never its secret, nor its signing key."""

    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    bot_id: uuid.UUID
    platform: Platform
    name: str
    url: str = Field(
        description="What the platform calls. For ElevenLabs, the base of one URL per "
        "tool: `{url}/{toolName}`."
    )
    auth: str = Field(description="How the platform authenticates its requests to `url`.")
    created_at: str


class ChannelCreated(ChannelRead):
    """The answer that creates a channel: the only one that shows its secret."""

    secret: str | None = Field(
        description="The channel secret, shown only now: Vapi sends it as `X-Vapi-Secret` "
        "(or `Authorization: Bearer`), ElevenLabs as `Authorization: Bearer`. None for "
        "Retell, whose requests are signed with `signingKey` instead."
    )
    tools: list[dict[str, Any]] = Field(
        description="The bot's tools as the platform imports them, calling this channel, "
        "with the secret filled in (`GET /api/v1/bots/{botId}/tools?format=<platform>` "
        "gives them later, with a placeholder where the secret goes)."
    )


class ChannelList(BaseModel):
    data: list[ChannelRead]
