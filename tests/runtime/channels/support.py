"""What the voice platforms send and accept, for tests of the voice channels.

* `fixture(platform, name)`: a request body as the platform sends it
  (`fixtures/<platform>/<name>.json`, sources in `fixtures/responses.md`), without the
  fixture's own `_source` note.
* `VAPI_TOOL`, `RETELL_TOOL`, `ELEVENLABS_TOOL`: JSON Schemas of the tool definitions each
  platform's API takes, written from its published reference and closed
  (`additionalProperties: false`) where the platform lists its fields, so that a key it
  does not know fails here rather than at import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

FIXTURES = Path(__file__).parent / "fixtures"
TOOL_NAME = "^[a-zA-Z0-9_-]{1,64}$"  # the same rule on all three platforms


def fixture(platform: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text())
    body.pop("_source")
    return body


def violations(schema: dict[str, Any], instance: Any) -> list[str]:
    """What in `instance` breaks `schema`, one line per error (empty: it conforms)."""
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


# Vapi: CreateFunctionToolDTO, OpenAIFunction, OpenAIFunctionParameters, JsonSchema and
# Server in the API's OpenAPI document
# (https://github.com/VapiAI/docs/blob/main/fern/apis/api/openapi.json, served at
# https://api.vapi.ai/api-json); the same types in VapiAI/server-sdk-python
# (src/vapi/types/create_function_tool_dto.py, open_ai_function.py, json_schema.py,
# server.py).
_VAPI_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["string", "number", "integer", "boolean", "array", "object"]},
        "items": {"$ref": "#/$defs/jsonSchema"},
        "properties": {"type": "object", "additionalProperties": {"$ref": "#/$defs/jsonSchema"}},
        "description": {"type": "string"},
        "pattern": {"type": "string"},
        "format": {
            "enum": [
                "date-time",
                "time",
                "date",
                "duration",
                "email",
                "hostname",
                "ipv4",
                "ipv6",
                "uuid",
            ]
        },
        "required": _strings(),
        "enum": _strings(),
        "title": {"type": "string"},
    },
}
VAPI_TOOL: dict[str, Any] = {
    "$defs": {"jsonSchema": _VAPI_JSON_SCHEMA},
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "function"},
        "async": {"type": "boolean"},
        "messages": {"type": "array"},
        "variableExtractionPlan": {"type": "object"},
        "parameters": {"type": "array"},
        "rejectionPlan": {"type": "object"},
        "function": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": TOOL_NAME},
                "strict": {"type": "boolean"},
                "description": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "required": ["type", "properties"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "object"},
                        "properties": {
                            "type": "object",
                            "additionalProperties": {"$ref": "#/$defs/jsonSchema"},
                        },
                        "required": _strings(),
                    },
                },
            },
        },
        "server": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timeoutSeconds": {"type": "number", "minimum": 1, "maximum": 300},
                "credentialId": {"type": "string"},
                "staticIpAddressesEnabled": {"type": "boolean"},
                "encryptedPaths": _strings(),
                "url": {"type": "string"},
                "headers": {"type": "object"},
                "backoffPlan": {"type": "object"},
            },
        },
    },
}

# Retell: GeneralToolCustomTool (an item of a Retell LLM's `general_tools`) in
# RetellAI/retell-python-sdk, src/retell/types/llm_create_params.py, documented at
# https://docs.retellai.com/api-references/create-retell-llm.
RETELL_TOOL: dict[str, Any] = {
    "type": "object",
    "required": ["name", "type", "url"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": TOOL_NAME},
        "type": {"const": "custom"},
        "url": {"type": "string"},
        "args_at_root": {"type": "boolean"},
        "description": {"type": "string"},
        "enable_typing_sound": {"type": "boolean"},
        "execution_message_description": {"type": "string"},
        "execution_message_type": {"enum": ["prompt", "static_text"]},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "parameter_type": {"enum": ["json", "form"]},
        "parameters": {
            "type": "object",
            "required": ["type", "properties"],
            "properties": {
                "type": {"const": "object"},
                "properties": {"type": "object"},
                "required": _strings(),
            },
        },
        "query_params": {"type": "object", "additionalProperties": {"type": "string"}},
        "response_variables": {"type": "object", "additionalProperties": {"type": "string"}},
        "speak_after_execution": {"type": "boolean"},
        "speak_during_execution": {"type": "boolean"},
        "timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 600000},
    },
}

# ElevenLabs: WebhookToolConfig-Input, WebhookToolApiSchemaConfig-Input,
# ObjectJsonSchemaProperty-Input, LiteralJsonSchemaProperty, ConvAISecretLocator and
# ConvAIDynamicVariable in the Agents API's OpenAPI document
# (https://github.com/elevenlabs/elevenlabs-docs/blob/main/fern/apis/convai/openapi.json),
# with the one-value-source rule of LiteralJsonSchemaProperty from elevenlabs-python
# (src/elevenlabs/types/literal_json_schema_property.py): a property's value comes from
# exactly one of the model (`description`), a dynamic variable or a constant.
_ONE_SOURCE = [
    {"required": ["description"]},
    {"required": ["dynamic_variable"]},
    {"required": ["constant_value"]},
    {"required": ["is_system_provided"]},
    {"required": ["is_omitted"]},
]
_ELEVENLABS_LITERAL: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "oneOf": _ONE_SOURCE,
    "properties": {
        "type": {"enum": ["boolean", "string", "integer", "number"]},
        "description": {"type": "string", "minLength": 1},
        "enum": _strings(),
        "dynamic_variable": {"type": "string", "minLength": 1},
        "constant_value": {"type": ["string", "integer", "number", "boolean"]},
        "is_system_provided": {"const": True},
        "is_omitted": {"const": True},
    },
}
_ELEVENLABS_OBJECT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"const": "object"},
        "required": _strings(),
        "description": {"type": "string"},
        "properties": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"$ref": "#/$defs/literal"}, {"$ref": "#/$defs/object"}]
            },
        },
    },
}
_ELEVENLABS_HEADER: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "required": ["secret_id"],
            "additionalProperties": False,
            "properties": {"secret_id": {"type": "string"}},
        },
        {
            "type": "object",
            "required": ["variable_name"],
            "additionalProperties": False,
            "properties": {"variable_name": {"type": "string"}},
        },
    ]
}
ELEVENLABS_TOOL: dict[str, Any] = {
    "$defs": {"literal": _ELEVENLABS_LITERAL, "object": _ELEVENLABS_OBJECT},
    "type": "object",
    "required": ["name", "description", "api_schema"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "webhook"},
        "name": {"type": "string", "pattern": TOOL_NAME},
        "description": {"type": "string"},
        "response_timeout_secs": {"type": "integer", "minimum": 5, "maximum": 120},
        "disable_interruptions": {"type": "boolean"},
        "force_pre_tool_speech": {"type": "boolean"},
        "assignments": {"type": "array"},
        "dynamic_variables": {"type": "object"},
        "api_schema": {
            "type": "object",
            "required": ["url"],
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string"},
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "path_params_schema": {"type": "object"},
                "query_params_schema": {"type": ["object", "null"]},
                "request_body_schema": {"$ref": "#/$defs/object"},
                "request_headers": {"type": "object", "additionalProperties": _ELEVENLABS_HEADER},
                "auth_connection": {"type": ["object", "null"]},
            },
        },
    },
}

PLATFORM_TOOL = {"vapi": VAPI_TOOL, "retell": RETELL_TOOL, "elevenlabs": ELEVENLABS_TOOL}
