"""Answers of the `…/tools` endpoints: the tool list in each provider's own shape."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal

from mcp_types import Tool as McpTool
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ToolFormat(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    MCP = "mcp"
    # Definitions to import into a voice platform, for one of the bot's channels.
    VAPI = "vapi"
    RETELL = "retell"
    ELEVENLABS = "elevenlabs"

    @property
    def voice(self) -> bool:
        return self in (ToolFormat.VAPI, ToolFormat.RETELL, ToolFormat.ELEVENLABS)


# What a function's own tool list takes: it has no channels, so no voice format.
AgentFormat = Literal["openai", "anthropic", "mcp"]


class OpenAIFunction(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema that satisfies strict mode")
    strict: Literal[True] = True


class OpenAITool(BaseModel):
    """One item of the Chat Completions `tools` array."""

    type: Literal["function"] = "function"
    function: OpenAIFunction


class AnthropicTool(BaseModel):
    """One item of the Messages API `tools` array."""

    name: str
    description: str
    input_schema: dict[str, Any]


# ----------------------------------------------------------- voice platforms' tools
# Each platform's documented shape, with the fields agentcal sets; the platforms accept
# more (spoken messages, sounds, …), which integrators add on their side if they want.


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class VapiFunction(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]


class VapiServer(_Camel):
    url: str
    timeout_seconds: int
    headers: dict[str, str] = Field(description="`X-Vapi-Secret`: the channel secret")


class VapiTool(BaseModel):
    """A Vapi function tool, the body of `POST https://api.vapi.ai/tool`."""

    model_config = ConfigDict(extra="forbid")  # never taken for an `OpenAITool`

    type: Literal["function"] = "function"
    function: VapiFunction
    server: VapiServer


class RetellTool(BaseModel):
    """A Retell custom function, one item of a Retell LLM's `general_tools`."""

    type: Literal["custom"] = "custom"
    name: str
    description: str
    url: str
    method: Literal["POST"] = "POST"
    parameters: dict[str, Any]
    speak_during_execution: bool = True
    speak_after_execution: bool = True
    timeout_ms: int


class ElevenLabsSecret(BaseModel):
    """A header whose value is a secret of the ElevenLabs workspace."""

    secret_id: str


class ElevenLabsApiSchema(BaseModel):
    url: str
    method: Literal["POST"] = "POST"
    request_body_schema: dict[str, Any]
    request_headers: dict[str, ElevenLabsSecret]


class ElevenLabsTool(BaseModel):
    """An ElevenLabs webhook tool, the `tool_config` of `POST /v1/convai/tools`."""

    type: Literal["webhook"] = "webhook"
    name: str
    description: str
    response_timeout_secs: int
    api_schema: ElevenLabsApiSchema


VoiceTool = VapiTool | RetellTool | ElevenLabsTool


class ToolList(BaseModel):
    """`{"tools": [...]}`: the list, ready to pass to the provider as it is, in a wrapper
    that leaves room for more keys without breaking clients (docs/runtime.md)."""

    tools: Sequence[OpenAITool | AnthropicTool | McpTool | VapiTool | RetellTool | ElevenLabsTool]
