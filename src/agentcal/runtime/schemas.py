"""Answers of the `…/tools` endpoints: the tool list in each provider's own shape."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal

from mcp_types import Tool as McpTool
from pydantic import BaseModel, Field


class ToolFormat(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    MCP = "mcp"


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


class ToolList(BaseModel):
    """`{"tools": [...]}`: the list, ready to pass to the provider as it is, in a wrapper
    that leaves room for more keys without breaking clients (docs/runtime.md)."""

    tools: Sequence[OpenAITool | AnthropicTool | McpTool]
