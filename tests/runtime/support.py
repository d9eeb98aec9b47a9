"""Helpers of the catalog tests: unsaved rows, and the OpenAI strict-mode checker."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agentcal.providers.base import ToolSource
from agentcal.providers.calcom import tools as calcom_tools
from agentcal.providers.calcom.models import CalcomIntegration
from agentcal.providers.google_calendar import tools as google_tools
from agentcal.providers.google_calendar.models import Function, GoogleCalendarPlugin
from agentcal.runtime.catalog import Catalog, build_catalog
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import calcom_user, link_calcom

PROMPT = "Use this to check Dr. Ana's free times and book 30-minute consultations."
# OpenAI and Anthropic both document this pattern for tool (function) names.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

_clock = itertools.count()
_EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _next_created_at() -> datetime:
    """Strictly increasing creation times, so creation order is the order of the calls."""
    return _EPOCH + timedelta(seconds=next(_clock))


def integration(title: str = "Calcom", **fields: Any) -> CalcomIntegration:
    """A Cal.com integration as the catalog reads it; not saved anywhere."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "title": title,
        "calcom_username": "dr-ana.souza",
        "timezone": "America/Sao_Paulo",
        "prompt": PROMPT,
        "is_active": True,
        "check_availability_enabled": True,
        "create_booking_enabled": True,
        "default_event_type_id": None,
        "default_event_type_slug": None,
        "created_at": _next_created_at(),
    }
    values.update(fields)
    return CalcomIntegration(**values)


def google_function(
    name: str = "Google Calendar",
    *,
    is_activated: bool = True,
    description: str = PROMPT,
    created_at: datetime | None = None,
    **plugin_fields: Any,
) -> Function:
    """A Google Calendar function with its plugin; not saved anywhere."""
    function = Function(
        id=uuid.uuid4(),
        name=name,
        description=description,
        is_activated=is_activated,
        created_at=created_at or _next_created_at(),
    )
    plugin: dict[str, Any] = {
        "timezone": "America/Sao_Paulo",
        "calendar_id": "ana.souza@clinica-exemplo.com.br",
        "google_user": {"name": "Ana Souza", "email": "ana.souza@clinica-exemplo.com.br"},
        "slot_minutes": 30,
        "check_availability_enabled": True,
        "create_booking_enabled": True,
    }
    plugin.update(plugin_fields)
    function.google_calendar = GoogleCalendarPlugin(**plugin)
    return function


# Keywords OpenAI's strict mode accepts; the catalog uses only the first five.
STRICT_KEYWORDS = frozenset(
    {"type", "description", "properties", "required", "additionalProperties", "enum", "items"}
    | {"anyOf", "$ref", "$defs", "const"}
)


def strict_violations(schema: Any, path: str = "parameters") -> list[str]:
    """Every place where `schema` breaks OpenAI's strict-mode rules (empty when none).

    Every object closes with `additionalProperties: false` and lists all its properties
    in `required`; only the supported keywords appear; the rules hold at every depth.
    """
    if not isinstance(schema, dict):
        return [f"{path}: a schema must be an object, got {schema!r}"]
    problems = [
        f"{path}: keyword {key!r} is not supported in strict mode"
        for key in sorted(set(schema) - STRICT_KEYWORDS)
    ]
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: an object needs additionalProperties: false")
        required = schema.get("required", [])
        if sorted(required) != sorted(properties) or len(set(required)) != len(required):
            problems.append(f"{path}: required {required} must list exactly {list(properties)}")
        for name, child in properties.items():
            problems += strict_violations(child, f"{path}.{name}")
    if "array" in types:
        problems += strict_violations(schema.get("items"), f"{path}[]")
    for i, option in enumerate(schema.get("anyOf", [])):
        problems += strict_violations(option, f"{path}.anyOf[{i}]")
    for name, definition in schema.get("$defs", {}).items():
        problems += strict_violations(definition, f"{path}.$defs.{name}")
    return problems


def openai_violations(tool: dict[str, Any]) -> list[str]:
    """Strict-mode problems of one Chat Completions tool, its envelope included."""
    problems = []
    if set(tool) != {"type", "function"} or tool["type"] != "function":
        problems.append(f"envelope {sorted(tool)} is not {{type: function, function}}")
    function = tool.get("function", {})
    name = function.get("name", "")
    if set(function) != {"name", "description", "parameters", "strict"}:
        problems.append(f"{name}: function keys are {sorted(function)}")
    if function.get("strict") is not True:
        problems.append(f"{name}: strict must be true")
    if not TOOL_NAME.fullmatch(name):
        problems.append(f"{name!r}: not a valid function name")
    parameters = function.get("parameters", {})
    if parameters.get("type") != "object":
        problems.append(f"{name}: the root schema must be an object (not anyOf)")
    return problems + [f"{name}: {p}" for p in strict_violations(parameters)]


CALCOM, GOOGLE = calcom_tools.KIND, google_tools.KIND


def source_of(row: CalcomIntegration | Function) -> ToolSource | None:
    if isinstance(row, CalcomIntegration):
        return calcom_tools.source(row)
    return google_tools.source(row)


def catalog_of(rows: list[CalcomIntegration | Function]) -> Catalog:
    """The catalog of these rows, as a bot linking them has it."""
    return build_catalog(s for s in map(source_of, rows) if s is not None)


CHECK = "check_availability_dr_ana"


async def bot_with_own_calcom_user(
    tenant: Tenant, sandbox: SandboxServer
) -> tuple[str, str, dict[str, Any]]:
    """A bot with the Cal.com integration of a user of its own (so no other test's cached
    event types are reused): (bot id, integration id, the create body)."""
    user = await calcom_user(sandbox, [("30min", 30)])
    return await link_calcom(tenant, user["apiKey"], user["username"], defaultEventTypeSlug="30min")
