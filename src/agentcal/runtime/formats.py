"""Tool specs rendered for OpenAI (strict), Anthropic and MCP.

The three formats carry the same names, descriptions and properties; only the JSON
Schema dialect differs. OpenAI's strict mode wants every property listed in `required`,
so optional ones there are nullable (`"type": ["string", "null"]`) instead of absent,
and it accepts only a subset of JSON Schema: ranges are therefore said in the
descriptions for every format, and given as `minimum`/`maximum` only where allowed.
`null` and an absent key mean the same to the executor: "use the default".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# `mcp_types` is the official SDK's wire-type package (`mcp.types` re-exports the very
# same classes); importing it alone skips the SDK's client stack, ~0.7 s at start-up.
from mcp_types import Tool as McpTool
from mcp_types import ToolAnnotations

from agentcal.providers import registry
from agentcal.providers.base import Action, Parameter, ToolSpec
from agentcal.runtime.schemas import AnthropicTool, OpenAIFunction, OpenAITool, ToolFormat


def _property(parameter: Parameter, *, strict: bool) -> dict[str, Any]:
    if strict:
        kind: str | list[str] = parameter.type if parameter.required else [parameter.type, "null"]
        return {"type": kind, "description": parameter.description}
    schema: dict[str, Any] = {"type": parameter.type, "description": parameter.description}
    if parameter.minimum is not None:
        schema["minimum"] = parameter.minimum
    if parameter.maximum is not None:
        schema["maximum"] = parameter.maximum
    return schema


def json_schema(parameters: Iterable[Parameter], *, strict: bool) -> dict[str, Any]:
    """The arguments' JSON Schema; `strict` for OpenAI's strict mode."""
    parameters = list(parameters)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _property(p, strict=strict) for p in parameters},
    }
    required = [p.name for p in parameters if strict or p.required]
    if required or strict:  # some validators refuse an empty `required` list
        schema["required"] = required
    # Unknown arguments are a model's mistake worth refusing, in every format.
    schema["additionalProperties"] = False
    return schema


def openai_tools(specs: Iterable[ToolSpec]) -> list[OpenAITool]:
    return [
        OpenAITool(
            function=OpenAIFunction(
                name=spec.name,
                description=spec.description,
                parameters=json_schema(spec.parameters, strict=True),
            )
        )
        for spec in specs
    ]


def anthropic_tools(specs: Iterable[ToolSpec]) -> list[AnthropicTool]:
    return [
        AnthropicTool(
            name=spec.name,
            description=spec.description,
            input_schema=json_schema(spec.parameters, strict=False),
        )
        for spec in specs
    ]


_ACTION_TITLES = {
    Action.CHECK_AVAILABILITY: "Check availability",
    Action.CREATE_BOOKING: "Book a meeting",
    Action.CANCEL_BOOKING: "Cancel a booking",
    Action.RESCHEDULE_BOOKING: "Reschedule a booking",
    Action.FIND_BOOKING: "Find a caller's bookings",
}

# MCP's behaviour hints, for clients that ask before running tools that change things.
_HINTS = {
    Action.CHECK_AVAILABILITY: ToolAnnotations(read_only_hint=True, open_world_hint=True),
    Action.CREATE_BOOKING: ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    ),
    # Cancelling twice leaves the calendar as cancelling once does.
    Action.CANCEL_BOOKING: ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
    ),
    Action.RESCHEDULE_BOOKING: ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    ),
    Action.FIND_BOOKING: ToolAnnotations(read_only_hint=True, open_world_hint=True),
}


def mcp_tools(specs: Iterable[ToolSpec]) -> list[McpTool]:
    """MCP `Tool`s, as `tools/list` answers them; `title` is for people, `name` for models."""
    return [
        McpTool(
            name=spec.name,
            title=f"{_ACTION_TITLES[spec.action]} ({registry.get(spec.kind).label}: {spec.title})",
            description=spec.description,
            input_schema=json_schema(spec.parameters, strict=False),
            annotations=_HINTS[spec.action],
        )
        for spec in specs
    ]


def render(
    specs: Iterable[ToolSpec], tool_format: ToolFormat
) -> Sequence[OpenAITool | AnthropicTool | McpTool]:
    if tool_format is ToolFormat.ANTHROPIC:
        return anthropic_tools(specs)
    if tool_format is ToolFormat.MCP:
        return mcp_tools(specs)
    return openai_tools(specs)
