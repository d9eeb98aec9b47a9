"""A bot's tools as a voice platform imports them: Vapi, Retell, ElevenLabs.

Each definition carries the channel's URL and how the platform authenticates there:

* Vapi: a function tool whose `server` is the channel, sending the channel secret in
  `X-Vapi-Secret` (a static `server.headers` entry, which needs no credential set up on
  Vapi's side first).
* Retell: a custom function on the channel's URL; Retell signs every request with the
  integrator's Retell API key, so the definition holds no secret.
* ElevenLabs: one webhook tool per tool, each on its own URL (`{url}/{toolName}`), whose
  body also carries the caller's number and the conversation id from ElevenLabs'
  system dynamic variables. Its `Authorization` header is a workspace secret (ElevenLabs
  keeps it write-only and out of the tool's configuration), holding `Bearer <secret>`.

The channel secret is kept only as a digest, so a later export cannot contain it: it
holds `SECRET_PLACEHOLDER` where the secret goes, and the ElevenLabs export
`ELEVENLABS_SECRET_PLACEHOLDER` where the id of the workspace secret goes.

The parameters are the subset of JSON Schema all three accept: an object of typed,
described properties and its `required` list. Ranges are already said in the
descriptions (`formats.py`), and Vapi's schema has no keyword for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentcal.providers.base import Parameter, ToolSpec
from agentcal.runtime.schemas import (
    ElevenLabsApiSchema,
    ElevenLabsSecret,
    ElevenLabsTool,
    RetellTool,
    ToolFormat,
    VapiFunction,
    VapiServer,
    VapiTool,
    VoiceTool,
)

SECRET_PLACEHOLDER = "<CHANNEL_SECRET>"
ELEVENLABS_SECRET_PLACEHOLDER = "<ELEVENLABS_SECRET_ID>"

# How long a platform waits for a tool's answer. Vapi's and ElevenLabs' own default;
# Retell's is two minutes, far longer than a caller listens to silence, and Retell
# retries a request that fails, which a shorter wait turns into an early second try.
TIMEOUT_SECONDS = 20

# ElevenLabs system variables every tool's body carries (the names are the platform's):
# the caller's number (voice calls only) and the conversation's id.
CALLER_ID = "system__caller_id"
CONVERSATION_ID = "system__conversation_id"


def _properties(parameters: Iterable[Parameter]) -> dict[str, Any]:
    return {p.name: {"type": p.type, "description": p.description} for p in parameters}


def parameters_schema(parameters: Iterable[Parameter]) -> dict[str, Any]:
    """The arguments' JSON Schema in the dialect the three platforms share."""
    parameters = list(parameters)
    schema: dict[str, Any] = {"type": "object", "properties": _properties(parameters)}
    required = [p.name for p in parameters if p.required]
    if required:  # some validators refuse an empty `required` list
        schema["required"] = required
    return schema


def _vapi(spec: ToolSpec, url: str, secret: str) -> VapiTool:
    return VapiTool(
        function=VapiFunction(
            name=spec.name,
            description=spec.description,
            parameters=parameters_schema(spec.parameters),
        ),
        server=VapiServer(
            url=url, timeout_seconds=TIMEOUT_SECONDS, headers={"X-Vapi-Secret": secret}
        ),
    )


def _retell(spec: ToolSpec, url: str) -> RetellTool:
    return RetellTool(
        name=spec.name,
        description=spec.description,
        url=url,
        parameters=parameters_schema(spec.parameters),
        timeout_ms=TIMEOUT_SECONDS * 1000,
    )


def _elevenlabs(spec: ToolSpec, url: str) -> ElevenLabsTool:
    body = parameters_schema(spec.parameters)
    # A property is filled either by the model (it has a description) or from a dynamic
    # variable, never both; these two are never required, as a web call has no number.
    body["properties"] |= {
        name: {"type": "string", "dynamic_variable": name} for name in (CALLER_ID, CONVERSATION_ID)
    }
    body["description"] = f"The arguments of {spec.name}."
    return ElevenLabsTool(
        name=spec.name,
        description=spec.description,
        response_timeout_secs=TIMEOUT_SECONDS,
        api_schema=ElevenLabsApiSchema(
            url=f"{url.rstrip('/')}/{spec.name}",
            request_body_schema=body,
            request_headers={
                "Authorization": ElevenLabsSecret(secret_id=ELEVENLABS_SECRET_PLACEHOLDER)
            },
        ),
    )


def voice_tools(
    platform: ToolFormat | str, specs: Iterable[ToolSpec], url: str, secret: str | None = None
) -> list[VoiceTool]:
    """The tools as `platform` imports them, calling the channel at `url`.

    `secret` is the channel secret, known only when the channel is created; without it
    Vapi's definitions hold `SECRET_PLACEHOLDER`. Retell's hold no secret (signed), and
    ElevenLabs' name a workspace secret by id, whatever `secret` is.
    """
    platform = ToolFormat(platform)
    if platform is ToolFormat.VAPI:
        return [_vapi(spec, url, secret or SECRET_PLACEHOLDER) for spec in specs]
    if platform is ToolFormat.RETELL:
        return [_retell(spec, url) for spec in specs]
    if platform is ToolFormat.ELEVENLABS:
        return [_elevenlabs(spec, url) for spec in specs]
    raise ValueError(f"{platform} is not a voice platform")


def definitions(
    platform: ToolFormat | str, specs: Iterable[ToolSpec], url: str, secret: str | None = None
) -> list[dict[str, Any]]:
    """`voice_tools` as JSON objects, exactly as the platform's API takes them."""
    return [
        tool.model_dump(mode="json", by_alias=True)
        for tool in voice_tools(platform, specs, url, secret)
    ]


__all__ = [
    "CALLER_ID",
    "CONVERSATION_ID",
    "ELEVENLABS_SECRET_PLACEHOLDER",
    "SECRET_PLACEHOLDER",
    "TIMEOUT_SECONDS",
    "definitions",
    "parameters_schema",
    "voice_tools",
]
