"""Tool definitions for the voice platforms: `GET /api/v1/bots/{botId}/tools?format=vapi|
retell|elevenlabs[&channelId=]`, and `voice_formats.definitions` that the channel's
creation answers with. Each export is checked against the platform's documented shape
(`tests/runtime/channels/support.py`), and against what the platform then sends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentcal.db.engine import session_scope
from agentcal.runtime.voice_formats import (
    CALLER_ID,
    CONVERSATION_ID,
    ELEVENLABS_SECRET_PLACEHOLDER,
    SECRET_PLACEHOLDER,
    definitions,
)
from agentcal.voice import service
from agentcal.voice.schemas import ChannelWrite
from tests.factories import Tenant, calcom_body, google_function_body
from tests.runtime.channels.support import PLATFORM_TOOL, fixture, violations
from tests.runtime.support import catalog_of, google_function, integration
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

BASE = "http://agentcal.test"  # the tenant client's base URL, hence the channels' host
PLATFORMS = ("vapi", "retell", "elevenlabs")


async def bot_with_tools(tenant: Tenant) -> str:
    """A bot with a Cal.com integration and a Google Calendar function: two providers'
    parameters in every export."""
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Front desk", "unitId": tenant.unit_id}
    )
    assert response.status_code == 201, response.text
    bot: str = response.json()["id"]
    created = await tenant.api.post(
        "/api/v1/calcom/integration", json=calcom_body(tenant.unit_id, botId=bot, title="Clinic")
    )
    assert created.status_code == 201, created.text
    body = google_function_body(tenant.user_id, tenant.unit_id, botId=bot, name="Dr Ana")
    created = await tenant.api.post("/api/v1/functions/", json=body)
    assert created.status_code == 201, created.text
    return bot


async def add_channel(tenant: Tenant, bot: str, platform: str, name: str = "Front desk") -> str:
    """A channel of the bot, made by the service the channels API runs."""
    signing = {"signingKey": "key_3f9a1c7e5b2d4f6a8c0e"} if platform == "retell" else {}
    write = ChannelWrite.model_validate({"platform": platform, "name": name, **signing})
    async with session_scope(tenant.app.state.sessionmaker) as session:
        channel, _ = await service.create_channel(
            session,
            tenant.app.state.keyring,
            uuid.UUID(tenant.institution_id),
            uuid.UUID(bot),
            write,
        )
    return str(channel.id)


async def export(tenant: Tenant, bot: str, fmt: str, **params: str) -> list[dict[str, Any]]:
    response = await tenant.api.get(f"/api/v1/bots/{bot}/tools", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["tools"]
    tools: list[dict[str, Any]] = response.json()["tools"]
    return tools


async def refused(tenant: Tenant, bot: str, fmt: str, **params: str) -> str:
    """The message of the 422 naming `channelId`."""
    response = await tenant.api.get(f"/api/v1/bots/{bot}/tools", params={"format": fmt, **params})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "channelId"
    message: str = error["message"]
    return message


async def openai_tools(tenant: Tenant, bot: str) -> dict[str, dict[str, Any]]:
    """The bot's tools as OpenAI gets them, by name: the reference for names,
    descriptions and which arguments there are."""
    return {t["function"]["name"]: t["function"] for t in await export(tenant, bot, "openai")}


def llm_properties(schema: dict[str, Any]) -> dict[str, str]:
    """The properties the model fills, with their types."""
    return {
        name: prop["type"]
        for name, prop in schema["properties"].items()
        if "dynamic_variable" not in prop
    }


def openai_properties(function: dict[str, Any]) -> dict[str, str]:
    """OpenAI's strict schema lists optional properties as nullable: `[type, "null"]`."""
    return {
        name: prop["type"] if isinstance(prop["type"], str) else prop["type"][0]
        for name, prop in function["parameters"]["properties"].items()
    }


def required_of(function: dict[str, Any]) -> set[str]:
    """The arguments a model must give: not nullable in OpenAI's strict schema."""
    return {
        name
        for name, prop in function["parameters"]["properties"].items()
        if isinstance(prop["type"], str)
    }


# -------------------------------------------------------------------------- Vapi


async def test_vapi_export_is_vapis_function_tool_on_the_channel_with_a_secret_slot(
    tenant: Tenant,
) -> None:
    bot = await bot_with_tools(tenant)
    channel = await add_channel(tenant, bot, "vapi")
    reference = await openai_tools(tenant, bot)

    tools = await export(tenant, bot, "vapi")

    assert [t["function"]["name"] for t in tools] == list(reference)
    for tool in tools:
        assert violations(PLATFORM_TOOL["vapi"], tool) == []
        function = reference[tool["function"]["name"]]
        assert tool["function"]["description"] == function["description"]
        parameters = tool["function"]["parameters"]
        assert llm_properties(parameters) == openai_properties(function)
        assert set(parameters.get("required", [])) == required_of(function)
        assert tool["server"] == {
            "url": f"{BASE}/hooks/vapi/{channel}",
            "timeoutSeconds": 20,
            "headers": {"X-Vapi-Secret": SECRET_PLACEHOLDER},
        }


async def test_a_vapi_call_names_the_exported_tool_with_its_arguments(tenant: Tenant) -> None:
    """What Vapi sends back (the recorded `tool-calls` message) names a tool and arguments
    of the export: the tool's name, and argument names its schema declares."""
    bot = await bot_with_tools(tenant)
    await add_channel(tenant, bot, "vapi")
    tools = {t["function"]["name"]: t for t in await export(tenant, bot, "vapi")}

    message = fixture("vapi", "tool-calls")["message"]
    [call] = message["toolCallList"]
    name = call["function"]["name"]
    assert name in tools
    declared = tools[name]["function"]["parameters"]["properties"]
    assert set(call["function"]["arguments"]) <= set(declared)
    # The tool as Vapi echoes it back has the shape Vapi was given.
    [echoed] = message["toolWithToolCallList"]
    echoed_tool = {k: echoed[k] for k in ("type", "function", "async", "server", "messages")}
    assert violations(PLATFORM_TOOL["vapi"], echoed_tool) == []


# ------------------------------------------------------------------------ Retell


async def test_retell_export_is_custom_functions_on_one_url_without_any_secret(
    tenant: Tenant,
) -> None:
    bot = await bot_with_tools(tenant)
    channel = await add_channel(tenant, bot, "retell")
    reference = await openai_tools(tenant, bot)

    tools = await export(tenant, bot, "retell")

    assert [t["name"] for t in tools] == list(reference)
    for tool in tools:
        assert violations(PLATFORM_TOOL["retell"], tool) == []
        function = reference[tool["name"]]
        assert tool["description"] == function["description"]
        assert llm_properties(tool["parameters"]) == openai_properties(function)
        assert set(tool["parameters"].get("required", [])) == required_of(function)
        assert tool["url"] == f"{BASE}/hooks/retell/{channel}"
        assert tool["method"] == "POST"
        assert tool["timeout_ms"] == 20_000
        assert tool["speak_during_execution"] is True
        assert tool["speak_after_execution"] is True
        # Retell signs its requests with the integrator's key: nothing secret to carry,
        # and the arguments come wrapped in `args` as the hook reads them.
        assert "headers" not in tool
        assert "args_at_root" not in tool
    assert "<" not in json.dumps(tools).replace("<=", "")  # no placeholder to fill


async def test_a_retell_request_names_the_exported_tool_with_its_arguments(
    tenant: Tenant,
) -> None:
    bot = await bot_with_tools(tenant)
    await add_channel(tenant, bot, "retell")
    tools = {t["name"]: t for t in await export(tenant, bot, "retell")}

    request = fixture("retell", "custom-function")

    assert request["name"] in tools
    assert set(request["args"]) <= set(tools[request["name"]]["parameters"]["properties"])


# -------------------------------------------------------------------- ElevenLabs


async def test_elevenlabs_export_is_one_webhook_per_tool_with_the_caller_variables(
    tenant: Tenant,
) -> None:
    bot = await bot_with_tools(tenant)
    channel = await add_channel(tenant, bot, "elevenlabs")
    reference = await openai_tools(tenant, bot)

    tools = await export(tenant, bot, "elevenlabs")

    assert [t["name"] for t in tools] == list(reference)
    urls = [t["api_schema"]["url"] for t in tools]
    assert urls == [f"{BASE}/hooks/elevenlabs/{channel}/{name}" for name in reference]
    for tool in tools:
        assert violations(PLATFORM_TOOL["elevenlabs"], tool) == []
        function = reference[tool["name"]]
        assert tool["description"] == function["description"]
        assert tool["type"] == "webhook"
        assert tool["response_timeout_secs"] == 20
        api = tool["api_schema"]
        assert api["method"] == "POST"  # ElevenLabs' default is GET, with no body
        assert api["request_headers"] == {
            "Authorization": {"secret_id": ELEVENLABS_SECRET_PLACEHOLDER}
        }
        body = api["request_body_schema"]
        assert llm_properties(body) == openai_properties(function)
        assert set(body.get("required", [])) == required_of(function)
        for variable in (CALLER_ID, CONVERSATION_ID):
            assert body["properties"][variable] == {"type": "string", "dynamic_variable": variable}


async def test_an_elevenlabs_body_is_the_exported_properties(tenant: Tenant) -> None:
    """The recorded body ElevenLabs posts is flat: the model's arguments beside the two
    system variables, every key a property of the export's body schema."""
    bot = await bot_with_tools(tenant)
    await add_channel(tenant, bot, "elevenlabs")
    tools = {t["name"]: t for t in await export(tenant, bot, "elevenlabs")}

    body = fixture("elevenlabs", "webhook-tool")
    declared = tools["check_availability_clinic"]["api_schema"]["request_body_schema"]

    assert set(body) <= set(declared["properties"])
    assert {CALLER_ID, CONVERSATION_ID} <= set(body)


# ------------------------------------------------------------ which channel, or 422


async def test_channel_id_picks_one_of_several_channels_of_the_platform(tenant: Tenant) -> None:
    bot = await bot_with_tools(tenant)
    first = await add_channel(tenant, bot, "vapi", "Front desk")
    second = await add_channel(tenant, bot, "vapi", "After hours")

    for channel in (first, second):
        tools = await export(tenant, bot, "vapi", channelId=channel)
        assert {t["server"]["url"] for t in tools} == {f"{BASE}/hooks/vapi/{channel}"}

    message = await refused(tenant, bot, "vapi")
    assert "2 vapi channels" in message


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_bot_without_a_channel_of_the_platform_is_a_422_naming_channel_id(
    tenant: Tenant, platform: str
) -> None:
    bot = await bot_with_tools(tenant)
    others = [p for p in PLATFORMS if p != platform]
    for other in others:  # channels of the other platforms do not stand in
        await add_channel(tenant, bot, other)

    message = await refused(tenant, bot, platform)

    assert f"no {platform} channel" in message
    assert f"/api/v1/bots/{bot}/channels" in message


async def test_a_channel_of_another_platform_bot_or_institution_is_refused(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    bot = await bot_with_tools(tenant)
    retell = await add_channel(tenant, bot, "retell")
    other_bot = await bot_with_tools(tenant)
    not_this_bots = await add_channel(tenant, other_bot, "vapi")
    theirs = await add_channel(other_tenant, await bot_with_tools(other_tenant), "vapi")

    assert "is a retell channel" in await refused(tenant, bot, "vapi", channelId=retell)
    for channel in (not_this_bots, theirs, str(uuid.uuid4())):
        message = await refused(tenant, bot, "vapi", channelId=channel)
        assert message == f"the bot has no channel {channel}"


async def test_channel_id_is_refused_with_the_other_formats(tenant: Tenant) -> None:
    bot = await bot_with_tools(tenant)
    channel = await add_channel(tenant, bot, "vapi")

    for fmt in ("openai", "anthropic", "mcp"):
        assert "voice formats" in await refused(tenant, bot, fmt, channelId=channel)


async def test_functions_tools_take_no_voice_format(tenant: Tenant) -> None:
    """A function has no channels: the voice formats are the bot's alone."""
    bot = await bot_with_tools(tenant)
    await add_channel(tenant, bot, "vapi")
    functions = await tenant.api.get("/api/v1/functions/")
    assert functions.status_code == 200, functions.text
    function = functions.json()["data"][0]["id"]

    response = await tenant.api.get(f"/api/v1/functions/{function}/tools?format=vapi")

    assert response.status_code == 422, response.text


# ------------------------------------------------- the channel creation's definitions


def test_definitions_fill_the_vapi_secret_when_it_is_known() -> None:
    catalog = catalog_of([integration("Clinic"), google_function("Dr Ana")])
    url = "https://agentcal.example.com/hooks/vapi/0f5d3c2e"

    with_secret = definitions("vapi", catalog.offered(), url, "agch_s3cr3t")
    without = definitions("vapi", catalog.offered(), url, None)

    assert len(with_secret) == len(catalog.offered()) > 0
    for tool in with_secret:
        assert violations(PLATFORM_TOOL["vapi"], tool) == []
        assert tool["server"]["headers"] == {"X-Vapi-Secret": "agch_s3cr3t"}
    assert {json.dumps(t["server"]["headers"]) for t in without} == {
        json.dumps({"X-Vapi-Secret": SECRET_PLACEHOLDER})
    }
    assert "agch_s3cr3t" not in json.dumps(without)


@pytest.mark.parametrize("platform", ["retell", "elevenlabs"])
def test_definitions_never_carry_the_channel_secret_for_retell_and_elevenlabs(
    platform: str,
) -> None:
    catalog = catalog_of([integration("Clinic")])
    url = f"https://agentcal.example.com/hooks/{platform}/0f5d3c2e"

    tools = definitions(platform, catalog.offered(), url, "agch_s3cr3t")

    assert tools
    assert "agch_s3cr3t" not in json.dumps(tools)
    for tool in tools:
        assert violations(PLATFORM_TOOL[platform], tool) == []
