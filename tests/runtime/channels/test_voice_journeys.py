"""A caller's whole journey through each voice platform, as the platform would make it.

For Vapi, Retell and ElevenLabs, on a Cal.com integration and on a Google Calendar
function, in English and in Brazilian Portuguese: the channel is created and its tools
are taken from the definitions agentcal exports (names, URL, auth), then the caller
asks for free times, books (the platform retrying the request), finds "my booking" by
their number, moves it and cancels it, never saying an id or their number. Exactly one
booking exists after the retry; each step is checked against what the calendar holds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from babel.dates import get_day_names

from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom_user, calcom_user
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.runtime.channels.hooks_support import (
    CALLER,
    create_channel,
    elevenlabs_body,
    post_retell,
    retell_request,
)
from tests.server_errors import watch_server_errors
from tests.support import next_monday

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PLATFORMS = ["vapi", "retell", "elevenlabs"]
PROVIDERS = ["calcom", "google"]
LANGUAGES = ["en", "pt-BR"]
ACTIONS = [
    "check_availability",
    "create_booking",
    "find_booking",
    "reschedule_booking",
    "cancel_booking",
]


@dataclass
class Platform:
    """One platform's side of a phone call: it posts the tool calls the way the platform
    does, to where the exported definitions say, and hands back the spoken sentence."""

    client: httpx.AsyncClient
    platform: str
    channel: dict[str, Any]
    tools: list[dict[str, Any]]  # the definitions, as exported
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def name(self, action: str) -> str:
        names = [self._name_of(t) for t in self.tools]
        (name,) = [n for n in names if n.startswith(f"{action}_")]
        return name

    def _name_of(self, tool: dict[str, Any]) -> str:
        if self.platform == "vapi":
            return str(tool["function"]["name"])
        return str(tool["name"])

    def _tool(self, name: str) -> dict[str, Any]:
        (tool,) = [t for t in self.tools if self._name_of(t) == name]
        return tool

    async def say(self, action: str, arguments: dict[str, Any], *, call_id: str = "") -> str:
        """The sentence the platform's model is given for this call."""
        name = self.name(action)
        tool = self._tool(name)
        if self.platform == "vapi":
            server = tool["server"]
            message = {
                "message": {
                    "type": "tool-calls",
                    "call": {"id": self.call_id, "customer": {"number": CALLER}},
                    "toolCallList": [
                        {
                            "id": call_id or uuid.uuid4().hex,
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }
                    ],
                }
            }
            response = await self.client.post(
                server["url"], json=message, headers=server["headers"]
            )
            assert response.status_code == 200, response.text
            (result,) = response.json()["results"]
            assert "\n" not in result.get("result", result.get("error", ""))
            return str(result.get("result") or result["error"])
        if self.platform == "retell":
            assert tool["url"] == self.channel["url"]
            body = retell_request(name, arguments, self.call_id)
            response = await post_retell(self.client, self.channel, body)
        else:
            url = tool["api_schema"]["url"]
            assert url == f"{self.channel['url']}/{name}"
            body = elevenlabs_body(arguments, conversation_id=self.call_id)
            secret = {"Authorization": f"Bearer {self.channel['secret']}"}
            response = await self.client.post(url, json=body, headers=secret)
        assert response.status_code == 200, response.text
        return str(response.json()["result"])


async def _calendar(tenant: Tenant, sandbox: SandboxServer, provider: str) -> str:
    """A bot with one calendar of its own (no other test books on it): the bot's id."""
    if provider == "calcom":
        user = await calcom_user(sandbox, [("30min", 30)])
        bot_id, _, _ = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
        return bot_id
    bot_id = await make_bot(tenant)
    await link_google_function(tenant, sandbox, bot_id)
    return bot_id


async def _speaking(tenant: Tenant, bot_id: str, language: str) -> None:
    bot = (await tenant.api.get(f"/api/v1/bots/{bot_id}")).json()
    body = {"name": bot["name"], "unitId": bot["unitId"], "language": language}
    response = await tenant.api.put(f"/api/v1/bots/{bot_id}", json=body)
    assert response.status_code == 200, response.text


async def _rest(tenant: Tenant, bot_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    """The same tool through the REST API, for the full `data` a spoken answer leaves out."""
    response = await tenant.api.post(
        f"/api/v1/bots/{bot_id}/tool-calls",
        json={"toolCalls": [{"name": name, "arguments": arguments}]},
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["ok"] is True, result
    return dict(result["data"])


async def _bookings(tenant: Tenant, bot_id: str, platform: Platform) -> list[str]:
    """The caller's upcoming bookings (local ISO starts), as the calendar holds them."""
    data = await _rest(tenant, bot_id, platform.name("find_booking"), attendeePhone=CALLER)
    return [b["start"] for b in data["bookings"]]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("platform_name", PLATFORMS)
async def test_a_caller_books_finds_moves_and_cancels_by_their_number(
    tenant: Tenant, sandbox: SandboxServer, platform_name: str, provider: str, language: str
) -> None:
    bot_id = await _calendar(tenant, sandbox, provider)
    await _speaking(tenant, bot_id, language)
    channel = await create_channel(tenant, bot_id, platform_name)
    exported = await tenant.api.get(
        f"/api/v1/bots/{bot_id}/tools",
        params={"format": platform_name, "channelId": channel["id"]},
    )
    assert exported.status_code == 200, exported.text
    # Vapi's definitions carry the secret only in the create answer; the export has a
    # placeholder where it goes (docs/channels.md), which the integrator fills in.
    tools = channel["tools"] if platform_name == "vapi" else exported.json()["tools"]
    caller = Platform(tenant.api, platform_name, channel, tools)
    assert all(caller.name(action) for action in ACTIONS)
    weekday = get_day_names("wide", locale=language.replace("-", "_"))[0]  # Monday

    day = next_monday().isoformat()
    heard = await caller.say("check_availability", {"startDate": day})
    assert weekday.lower() in heard.lower(), heard
    assert "UTC" not in heard
    assert day not in heard
    free = await _rest(tenant, bot_id, caller.name("check_availability"), startDate=day)
    first, later = free["slots"][0]["start"], free["slots"][4]["start"]

    booking = {"start": first, "attendeeName": "Maria Silva", "attendeeEmail": "maria@example.com"}
    booked = await caller.say("create_booking", booking, call_id="call-book-1")
    retried = await caller.say("create_booking", booking, call_id="call-book-1")
    assert retried == booked  # the platform's retry hears the first answer again
    assert await _bookings(tenant, bot_id, caller) == [first]

    found = await caller.say("find_booking", {})
    assert weekday.lower() in found.lower(), found

    moved = await caller.say("reschedule_booking", {"start": first, "newStart": later})
    assert await _bookings(tenant, bot_id, caller) == [later], moved

    cancelled = await caller.say("cancel_booking", {"start": later})
    assert await _bookings(tenant, bot_id, caller) == [], cancelled
    if language == "pt-BR":
        assert "Monday" not in booked + found + moved + cancelled
