"""A bot's language, end to end on both providers: API → runtime → sandbox.

The bot's `language` changes every `content` sentence, weekday and month of its
results; `data` stays what it is in English (ISO 8601, UTC). On a voice channel the
same results are written to be heard.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom, call_tools
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.runtime.channels.hooks_support import create_channel, post_vapi, vapi_tool_calls
from tests.server_errors import watch_server_errors
from tests.support import next_monday

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROVIDERS = ("calcom", "google_calendar")


async def bot_of(
    tenant: Tenant, sandbox: SandboxServer, provider: str
) -> tuple[str, dict[str, str]]:
    """A bot with a "Dr Ana" function of `provider`: (bot id, tool names by action)."""
    if provider == "calcom":
        bot_id, _, names = await bot_with_calcom(tenant)
        return bot_id, names
    bot_id = await make_bot(tenant)
    await link_google_function(tenant, sandbox, bot_id)
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    return bot_id, {
        t["function"]["name"].removesuffix("_dr_ana"): t["function"]["name"]
        for t in tools.json()["tools"]
    }


async def speak(tenant: Tenant, bot_id: str, language: str) -> None:
    response = await tenant.api.put(
        f"/api/v1/bots/{bot_id}",
        json={"name": "Reception", "unitId": tenant.unit_id, "language": language},
    )
    assert response.status_code == 200, response.text
    assert response.json()["language"] == language


async def call(tenant: Tenant, bot_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = await call_tools(tenant, bot_id, {"name": name, "arguments": arguments})
    result: dict[str, Any] = body["results"][0]
    assert len(result["content"]) <= 600
    return result


def booking(hhmm: str) -> dict[str, Any]:
    return {
        "start": f"{next_monday().isoformat()}T{hhmm}",
        "attendeeName": "Maria Silva",
        "attendeeEmail": "maria@example.com",
    }


def without_id(data: dict[str, Any]) -> dict[str, Any]:
    """A booking's data but for what differs between two bookings (id, time, links)."""
    varying = {
        "bookingId",
        "start",
        "end",
        "startUtc",
        "endUtc",
        "location",
        "meetLink",
        "htmlLink",
    }
    return {k: v for k, v in data.items() if k not in varying}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_portuguese_bot_gets_portuguese_content_and_the_same_data(
    tenant: Tenant, sandbox: SandboxServer, provider: str
) -> None:
    bot_id, names = await bot_of(tenant, sandbox, provider)
    monday = next_monday().isoformat()
    check = {"startDate": monday}
    english = await call(tenant, bot_id, names["check_availability"], check)
    booked_en = await call(tenant, bot_id, names["create_booking"], booking("11:00"))
    assert english["content"].startswith("Free 30-minute times for Dr Ana")

    await speak(tenant, bot_id, "pt-BR")
    portuguese = await call(tenant, bot_id, names["check_availability"], check)
    booked_pt = await call(tenant, bot_id, names["create_booking"], booking("10:00"))
    taken = await call(tenant, bot_id, names["create_booking"], booking("10:00"))

    assert portuguese["ok"] is True
    assert portuguese["content"].startswith(
        "Horários livres de 30 minutos para Dr Ana (America/Sao_Paulo): segunda-feira, "
    )
    assert "de 2" in portuguese["content"]  # "… de novembro de 2026 (UTC-03:00)"
    assert "(UTC-03:00): 09:00, 09:30" in portuguese["content"]
    assert "Monday" not in portuguese["content"]
    slots_en = [s for s in english["data"]["slots"] if s["start"][11:16] != "11:00"]
    assert portuguese["data"] == {**english["data"], "slots": slots_en}  # 11:00 is now taken

    assert booked_pt["ok"] is True, booked_pt
    uid = booked_pt["data"]["bookingId"]
    assert re.fullmatch(
        r"Agendado: .+ com Maria Silva, segunda-feira, \d+ de \w+ de \d{4}, de 10:00 a 10:30 "
        rf"\(UTC-03:00\)\. ID do agendamento: {re.escape(uid)}\.( .*)?",
        booked_pt["content"],
    ), booked_pt["content"]
    assert booked_pt["data"]["start"] == f"{monday}T10:00:00-03:00"
    assert booked_pt["data"]["startUtc"] == f"{monday}T13:00:00Z"
    assert without_id(booked_pt["data"]) == without_id(booked_en["data"])

    assert taken["ok"] is False
    assert taken["error"]["code"] == "slot_unavailable"
    assert taken["content"].startswith("O horário de segunda-feira, ")
    assert (
        "não está livre. Os horários livres mais próximos são: segunda-feira" in (taken["content"])
    )
    assert taken["error"]["message"] == taken["content"]
    assert taken["data"]["alternatives"][0]["start"].startswith(f"{monday}T")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_spanish_bot_heard_on_a_voice_channel_gets_few_times_and_no_offsets(
    tenant: Tenant, sandbox: SandboxServer, provider: str
) -> None:
    bot_id, names = await bot_of(tenant, sandbox, provider)
    await speak(tenant, bot_id, "es")
    channel = await create_channel(tenant, bot_id, "vapi")
    check = names["check_availability"]
    body = vapi_tool_calls(("call_1", check, {"startDate": next_monday().isoformat()}))

    response = await post_vapi(tenant.api, channel, body)

    assert response.status_code == 200, response.text
    said = response.json()["results"][0]["result"]
    assert said.startswith("Horarios libres de 30 minutos para Dr Ana: lunes, "), said
    assert ", a las 9:00" in said
    assert said.endswith(" Todos los horarios están en la hora de São Paulo.")
    assert said.count("São Paulo") == 1
    assert not re.search(r"UTC|[+-]\d{2}:\d{2}|\d{4}-\d{2}-\d{2}", said)
    assert len(re.findall(r"\b\d{1,2}:\d{2}\b", said)) <= 4  # at most four times offered
    assert re.search(r"y \d+ horarios más", said)
