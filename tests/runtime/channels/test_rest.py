"""`GET …/tools` of bots, functions and Cal.com integrations, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import mcp.types
import pytest

from tests.factories import Tenant, calcom_body, calcom_update_body, google_function_body
from tests.runtime.support import openai_violations
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"
ACTIONS = (
    "check_availability",
    "create_booking",
    "cancel_booking",
    "reschedule_booking",
    "find_booking",
)


def names_for(slug: str, actions: tuple[str, ...] = ACTIONS) -> list[str]:
    return [f"{action}_{slug}" for action in actions]


async def make_bot(tenant: Tenant, name: str = "Receptionist") -> str:
    response = await tenant.api.post("/api/v1/bots", json={"name": name, "unitId": tenant.unit_id})
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


async def make_integration(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await tenant.api.post(
        "/api/v1/calcom/integration", json=calcom_body(tenant.unit_id, **overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def make_function(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    body = google_function_body(tenant.user_id, tenant.unit_id, **overrides)
    response = await tenant.api.post("/api/v1/functions/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def tools(client: httpx.AsyncClient, path: str, fmt: str | None = None) -> list[Any]:
    """The `tools` of a `…/tools` answer, checking the wrapper on the way."""
    response = await client.get(path, params={"format": fmt} if fmt else None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["tools"]
    listed: list[Any] = body["tools"]
    return listed


def openai_names(listed: list[Any]) -> list[str]:
    return [tool["function"]["name"] for tool in listed]


async def bot_names(tenant: Tenant, bot_id: str) -> list[str]:
    return openai_names(await tools(tenant.api, f"/api/v1/bots/{bot_id}/tools"))


# ------------------------------------------------------------------------------- bots


async def test_bot_tools_default_to_openai_for_every_linked_function(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    other_bot = await make_bot(tenant, "Sales bot")
    await make_integration(tenant, botId=bot, title="Dra. Ana — Cal.com")
    await make_function(tenant, botId=bot, name="Agenda Google")
    await make_integration(tenant, title="Unlinked")  # no bot: not this bot's tool
    await make_function(tenant, botId=other_bot, name="Other bot's")

    listed = await tools(tenant.api, f"/api/v1/bots/{bot}/tools")

    assert openai_names(listed) == names_for("dra_ana_cal_com") + names_for("agenda_google")
    for tool in listed:
        assert tool["type"] == "function"
        assert tool["function"]["strict"] is True
        assert openai_violations(tool) == []


async def test_bot_with_nothing_linked_has_no_tools(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    assert await tools(tenant.api, f"/api/v1/bots/{bot}/tools?format=mcp") == []


async def test_same_titles_in_one_bot_get_unique_names_by_creation_order(
    tenant: Tenant,
) -> None:
    bot = await make_bot(tenant)
    await make_integration(tenant, botId=bot, title="Agenda")
    await make_function(tenant, botId=bot, name="Agenda")
    await make_integration(tenant, botId=bot, title="agenda!")

    names = await bot_names(tenant, bot)

    assert names == names_for("agenda") + names_for("agenda_2") + names_for("agenda_3")


async def test_names_are_stable_across_calls_and_unrelated_changes(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    older = await make_integration(tenant, botId=bot, title="Agenda")
    mine = await make_function(tenant, botId=bot, name="Agenda")
    before = await bot_names(tenant, bot)
    assert before == await bot_names(tenant, bot)  # same answer twice

    # A new prompt and switched-off bookings on the older integration, a deactivated and
    # reactivated function, and a newer function with the same title in the same bot.
    update = calcom_update_body(
        tenant.unit_id, botId=bot, title="Agenda", prompt="New prompt.", createBookingEnabled=False
    )
    response = await tenant.api.put(f"/api/v1/calcom/integration/{older['id']}", json=update)
    assert response.status_code == 200, response.text
    for active in (False, True):
        body = google_function_body(
            tenant.user_id, tenant.unit_id, botId=bot, name="Agenda", isActivated=active
        )
        response = await tenant.api.put(f"/api/v1/functions/{mine['id']}", json=body)
        assert response.status_code == 200, response.text
    await make_integration(tenant, botId=bot, title="Agenda")
    after = await bot_names(tenant, bot)

    assert after == [
        "check_availability_agenda",
        *names_for("agenda_2"),
        *names_for("agenda_3"),
    ]
    assert set(before) - set(after) == set(names_for("agenda", ACTIONS[1:]))  # switched off


async def test_a_deactivated_sibling_keeps_its_name_so_nobody_is_renamed(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    older = await make_integration(tenant, botId=bot, title="Agenda")
    await make_function(tenant, botId=bot, name="Agenda")

    update = calcom_update_body(tenant.unit_id, botId=bot, title="Agenda", isActive=False)
    response = await tenant.api.put(f"/api/v1/calcom/integration/{older['id']}", json=update)
    assert response.status_code == 200, response.text

    # "agenda" stays reserved for the inactive integration: a model still holding the
    # old list can never reach the Google function by the integration's name.
    assert await bot_names(tenant, bot) == names_for("agenda_2")


async def test_long_and_accented_titles_give_short_ascii_names(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    long_title = ("Consultório da Doutora Conceição Ávila " * 4)[:120].strip()
    await make_integration(tenant, botId=bot, title=long_title)
    await make_function(tenant, botId=bot, name=long_title)

    names = await bot_names(tenant, bot)

    assert len(names) == len(set(names)) == 2 * len(ACTIONS)
    assert all(len(name) <= 64 for name in names)
    assert names[0] == "check_availability_consultorio_da_doutora_conceicao_avila_consul"
    assert names[-2] == "reschedule_booking_consultorio_da_doutora_conceicao_avila_cons_2"
    assert names[-1] == "find_booking_consultorio_da_doutora_conceicao_avila_cons_2"


# ------------------------------------------------------------------ switches, activation


async def test_switches_and_activation_decide_what_is_offered(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    await make_integration(tenant, botId=bot, title="Only checks", createBookingEnabled=False)
    await make_integration(tenant, botId=bot, title="Only books", checkAvailabilityEnabled=False)
    await make_integration(
        tenant,
        botId=bot,
        title="Nothing",
        checkAvailabilityEnabled=False,
        createBookingEnabled=False,
    )
    await make_function(
        tenant,
        botId=bot,
        name="Google checks",
        googleCalendar={"createBookingEnabled": False},
    )
    await make_function(tenant, botId=bot, name="Google off", isActivated=False)

    names = await bot_names(tenant, bot)

    assert names == [
        "check_availability_only_checks",
        *names_for("only_books", ACTIONS[1:]),
        "check_availability_google_checks",
    ]


async def test_inactive_integration_offers_no_tools(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    row = await make_integration(tenant, botId=bot)
    update = calcom_update_body(tenant.unit_id, botId=bot, isActive=False)
    response = await tenant.api.put(f"/api/v1/calcom/integration/{row['id']}", json=update)
    assert response.status_code == 200, response.text

    assert await tools(tenant.api, f"/api/v1/bots/{bot}/tools") == []
    assert await tools(tenant.api, f"/api/v1/calcom/integration/{row['id']}/tools") == []


async def test_a_duplicated_function_offers_no_tools_until_activated(tenant: Tenant) -> None:
    original = await make_function(tenant)
    response = await tenant.api.post(f"/api/v1/functions/duplicate/{original['id']}")
    assert response.status_code == 201, response.text
    copy = response.json()
    assert copy["isActivated"] is False

    assert await tools(tenant.api, f"/api/v1/functions/{copy['id']}/tools") == []
    assert openai_names(
        await tools(tenant.api, f"/api/v1/functions/{original['id']}/tools")
    ) == names_for("google_calendar")


# ------------------------------------------------------------------- one function's tools


async def test_function_and_integration_tools_are_named_as_in_their_bot(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    cal = await make_integration(tenant, botId=bot, title="Agenda")
    google = await make_function(tenant, botId=bot, name="Agenda")

    cal_tools = await tools(tenant.api, f"/api/v1/calcom/integration/{cal['id']}/tools")
    google_tools = await tools(tenant.api, f"/api/v1/functions/{google['id']}/tools")

    assert openai_names(cal_tools) == names_for("agenda")
    assert openai_names(google_tools) == names_for("agenda_2")
    assert cal_tools + google_tools == await tools(tenant.api, f"/api/v1/bots/{bot}/tools")


async def test_an_unlinked_function_is_named_on_its_own(tenant: Tenant) -> None:
    await make_integration(tenant, title="Agenda")  # unlinked too: no collision
    google = await make_function(tenant, name="Agenda")
    names = openai_names(await tools(tenant.api, f"/api/v1/functions/{google['id']}/tools"))
    assert names == names_for("agenda")


async def test_descriptions_carry_the_prompt_and_the_timezone(tenant: Tenant) -> None:
    prompt = "Book only 30-minute consultations.\nAsk for the patient's full name first."
    cal = await make_integration(tenant, prompt=prompt, timezone="Europe/Lisbon")
    google = await make_function(
        tenant, description=prompt, googleCalendar={"timezone": "Asia/Tokyo"}
    )

    cal_tools = await tools(tenant.api, f"/api/v1/calcom/integration/{cal['id']}/tools")
    google_tools = await tools(tenant.api, f"/api/v1/functions/{google['id']}/tools")

    for listed, timezone in ((cal_tools, "Europe/Lisbon"), (google_tools, "Asia/Tokyo")):
        for tool in listed:
            description = tool["function"]["description"]
            assert description.endswith(f"\n\n{prompt}")
            assert f"times are in {timezone} unless you pass timeZone" in description


# ----------------------------------------------------------------------------- formats


async def test_anthropic_format(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    await make_integration(tenant, botId=bot)
    await make_function(tenant, botId=bot)

    listed = await tools(tenant.api, f"/api/v1/bots/{bot}/tools", "anthropic")

    assert [t["name"] for t in listed] == await bot_names(tenant, bot)
    for tool in listed:
        assert set(tool) == {"name", "description", "input_schema"}
        assert tool["input_schema"]["type"] == "object"
    create = listed[1]["input_schema"]
    assert create["required"] == ["start", "attendeeName", "attendeeEmail"]
    assert create["properties"]["attendeePhone"] == {
        "type": "string",
        "description": create["properties"]["attendeePhone"]["description"],
    }


async def test_mcp_format_is_a_list_of_sdk_tools(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    await make_integration(tenant, botId=bot)
    await make_function(tenant, botId=bot)

    listed = await tools(tenant.api, f"/api/v1/bots/{bot}/tools", "mcp")
    anthropic = await tools(tenant.api, f"/api/v1/bots/{bot}/tools", "anthropic")

    assert len(listed) == 2 * len(ACTIONS)
    for tool, twin in zip(listed, anthropic, strict=True):
        assert {"name", "description", "inputSchema"} <= set(tool)
        assert None not in tool.values()  # unset optional keys are left out, not null
        parsed = mcp.types.Tool.model_validate(tool)
        assert (parsed.name, parsed.description) == (twin["name"], twin["description"])
        assert parsed.input_schema == twin["input_schema"]


@pytest.mark.parametrize("fmt", ["OpenAI", "gemini", ""])
async def test_an_unknown_format_is_422(tenant: Tenant, fmt: str) -> None:
    bot = await make_bot(tenant)
    response = await tenant.api.get(f"/api/v1/bots/{bot}/tools", params={"format": fmt})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    [error] = response.json()["errors"]
    assert error["field"] == "format"
    assert "'openai', 'anthropic', 'mcp', 'vapi', 'retell' or 'elevenlabs'" in error["message"]


# ------------------------------------------------------------------ access and tenancy


async def test_another_institutions_ids_are_404_like_missing_ones(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    bot = await make_bot(tenant)
    cal = await make_integration(tenant, botId=bot)
    google = await make_function(tenant, botId=bot)
    paths = [
        f"/api/v1/bots/{bot}/tools",
        f"/api/v1/calcom/integration/{cal['id']}/tools",
        f"/api/v1/functions/{google['id']}/tools",
    ]
    for path in paths:
        foreign = await other_tenant.api.get(path)
        missing = await other_tenant.api.get(path.replace(path.split("/")[-2], str(uuid.uuid4())))
        assert foreign.status_code == missing.status_code == 404, (path, foreign.text)
        assert foreign.headers["content-type"].startswith(PROBLEM_JSON)
        assert foreign.json()["type"] == missing.json()["type"]
        # The owner still sees them.
        assert len(await tools(tenant.api, path)) == len(ACTIONS) * (2 if "bots" in path else 1)


async def test_tools_need_a_bearer_token(tenant: Tenant, client: httpx.AsyncClient) -> None:
    bot = await make_bot(tenant)
    response = await client.get(f"/api/v1/bots/{bot}/tools")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_malformed_id_is_422_naming_the_path_parameter(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/v1/bots/not-a-uuid/tools")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "botId"


async def test_the_tool_endpoints_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/bots/{botId}/tools",
        "/api/v1/functions/{id}/tools",
        "/api/v1/calcom/integration/{id}/tools",
    ):
        parameters = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert "format" in parameters
