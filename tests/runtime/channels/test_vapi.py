"""The Vapi hook: Vapi's own server messages in, Vapi's `results` out, each call once."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant, create_tenant
from tests.providers.calcom.support import bot_with_calcom
from tests.runtime.channels.hooks_support import CALLER, create_channel, post_vapi, vapi_tool_calls
from tests.runtime.channels.support import fixture
from tests.server_errors import watch_server_errors
from tests.support import next_monday

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)


async def vapi_bot(tenant: Tenant) -> tuple[dict[str, Any], dict[str, str]]:
    """A Vapi channel of a bot with the demo Cal.com integration; its tool names."""
    bot_id, _, names = await bot_with_calcom(tenant)
    return await create_channel(tenant, bot_id, "vapi"), names


def booking(hhmm: str, **more: Any) -> dict[str, Any]:
    return {
        "start": f"{next_monday().isoformat()}T{hhmm}",
        "attendeeName": "Maria Silva",
        "attendeeEmail": "maria@example.com",
        **more,
    }


async def test_tool_calls_are_answered_with_vapi_results(tenant: Tenant) -> None:
    channel, names = await vapi_bot(tenant)
    check = names["check_availability"]
    body = vapi_tool_calls(("call_a1", check, {"startDate": next_monday().isoformat()}))

    response = await post_vapi(tenant.api, channel, body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    results = response.json()["results"]
    assert len(results) == 1
    assert set(results[0]) == {"name", "toolCallId", "result"}
    assert results[0]["name"] == check
    assert results[0]["toolCallId"] == "call_a1"
    text = results[0]["result"]
    assert text
    assert "\n" not in text
    assert len(text) <= 600
    assert "ratelimit" in response.headers  # counted against the bot, like any tool call


async def test_the_recorded_message_runs_as_vapi_sent_it(tenant: Tenant) -> None:
    """The fixture as it is, but for the tool's name and a day ahead."""
    channel, names = await vapi_bot(tenant)
    body = fixture("vapi", "tool-calls")
    for call in [
        *body["message"]["toolCallList"],
        *(t["toolCall"] for t in body["message"]["toolWithToolCallList"]),
    ]:
        call["function"]["name"] = names["check_availability"]
        call["function"]["arguments"]["startDate"] = next_monday().isoformat()

    response = await post_vapi(tenant.api, channel, body)

    assert response.status_code == 200
    (result,) = response.json()["results"]  # listed twice by Vapi, run once
    assert result["toolCallId"] == "call_Q9OmH6CEgazy0kvNJk3xhvfh"
    assert "result" in result


async def test_calls_listed_only_with_their_tools_are_run(tenant: Tenant) -> None:
    channel, names = await vapi_bot(tenant)
    body = vapi_tool_calls(("call_t1", names["check_availability"], {"startDate": "nope"}))
    del body["message"]["toolCallList"]

    response = await post_vapi(tenant.api, channel, body)

    (result,) = response.json()["results"]
    assert result["toolCallId"] == "call_t1"
    assert "result" not in result
    assert "YYYY-MM-DD" in result["error"]  # the invalid_datetime sentence, on one line
    assert "\n" not in result["error"]


async def test_several_calls_in_one_message_are_answered_in_order(tenant: Tenant) -> None:
    channel, names = await vapi_bot(tenant)
    monday = next_monday().isoformat()
    body = vapi_tool_calls(
        ("call_1", names["check_availability"], {"startDate": monday}),
        ("call_2", "no_such_tool", {}),
        ("call_3", names["check_availability"], json.dumps({"startDate": monday})),
    )

    results = (await post_vapi(tenant.api, channel, body)).json()["results"]

    assert [r["toolCallId"] for r in results] == ["call_1", "call_2", "call_3"]
    assert "result" in results[0]
    assert "result" in results[2]
    assert "no_such_tool" in results[1]["error"]
    assert results[0]["result"] == results[2]["result"]


async def test_a_booking_takes_the_callers_number_and_is_made_once(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await vapi_bot(tenant)
    body = vapi_tool_calls(("call_book", names["create_booking"], booking("10:00")))

    first = await post_vapi(tenant.api, channel, body)
    # Vapi sends the same call again (a retry, or the model repeating itself).
    again = await post_vapi(tenant.api, channel, body)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert "result" in first.json()["results"][0]
    (booked,) = sandbox.calcom.bookings.values()
    assert booked.attendee["phoneNumber"] == CALLER


async def test_a_number_the_model_gave_is_kept(tenant: Tenant, sandbox: SandboxServer) -> None:
    channel, names = await vapi_bot(tenant)
    arguments = booking("11:00", attendeePhone="+55 21 99876-5432")
    body = vapi_tool_calls(("call_own", names["create_booking"], arguments))

    response = await post_vapi(tenant.api, channel, body)

    assert "result" in response.json()["results"][0], response.text
    (booked,) = sandbox.calcom.bookings.values()
    assert booked.attendee["phoneNumber"] in ("+55 21 99876-5432", "+5521998765432")


async def test_a_web_call_has_no_number_to_give(tenant: Tenant, sandbox: SandboxServer) -> None:
    channel, names = await vapi_bot(tenant)
    body = vapi_tool_calls(("call_web", names["create_booking"], booking("11:30")), number=None)

    response = await post_vapi(tenant.api, channel, body)

    assert "result" in response.json()["results"][0], response.text
    (booked,) = sandbox.calcom.bookings.values()
    assert "phoneNumber" not in booked.attendee


async def test_an_id_reused_with_other_arguments_is_an_error_of_that_call(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await vapi_bot(tenant)
    book = names["create_booking"]
    await post_vapi(tenant.api, channel, vapi_tool_calls(("call_x", book, booking("14:00"))))

    response = await post_vapi(
        tenant.api,
        channel,
        vapi_tool_calls(
            ("call_x", book, booking("15:00")),
            ("call_y", names["check_availability"], {"startDate": next_monday().isoformat()}),
        ),
    )

    assert response.status_code == 200  # Vapi ignores any other status
    reused, other = response.json()["results"]
    assert "call_x" in reused["error"]
    assert "result" not in reused
    assert "result" in other
    assert len(sandbox.calcom.bookings) == 1


async def test_the_same_tool_call_id_in_another_phone_call_is_another_call(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """Tool-call ids come from the model, which may number them the same way in every
    conversation: a key is the id within its phone call."""
    channel, names = await vapi_bot(tenant)
    book = names["create_booking"]
    first = vapi_tool_calls(("call_0", book, booking("14:00")))
    second = vapi_tool_calls(("call_0", book, booking("15:00")))
    second["message"]["call"]["id"] = "another-phone-call"

    answers = [await post_vapi(tenant.api, channel, body) for body in (first, second)]

    assert all("result" in a.json()["results"][0] for a in answers), [a.text for a in answers]
    assert len(sandbox.calcom.bookings) == 2


@pytest.mark.parametrize("name", ["status-update", "end-of-call-report"])
async def test_other_server_messages_are_acknowledged_with_an_empty_object(
    tenant: Tenant, name: str, sandbox: SandboxServer
) -> None:
    channel, _ = await vapi_bot(tenant)
    response = await post_vapi(tenant.api, channel, fixture("vapi", name))
    assert response.status_code == 200
    assert response.json() == {}
    assert sandbox.calcom.bookings == {}


async def test_the_secret_may_come_as_a_bearer_token(tenant: Tenant) -> None:
    channel, names = await vapi_bot(tenant)
    body = vapi_tool_calls(("c", names["check_availability"], {"startDate": "2099-01-05"}))
    response = await post_vapi(
        tenant.api, channel, body, headers={"Authorization": f"Bearer {channel['secret']}"}
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["toolCallId"] == "c"


async def test_a_missing_or_wrong_secret_is_401(
    tenant: Tenant, client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    channel, names = await vapi_bot(tenant)
    other = await create_channel(tenant, channel["botId"], "vapi")
    body = vapi_tool_calls(("c", names["create_booking"], booking("16:00")))

    for headers in (
        {},
        {"X-Vapi-Secret": channel["secret"] + "x"},
        {"X-Vapi-Secret": other["secret"]},  # another channel's, of the same bot
        {"Authorization": f"Bearer {tenant.token}"},  # an access token is no channel secret
        {"Authorization": f"Basic {channel['secret']}"},
    ):
        response = await post_vapi(client, channel, body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith('Bearer realm="agentcal"')
        assert "secret" in response.json()["detail"]
    assert "X-Vapi-Secret" in (await post_vapi(client, channel, body, headers={})).text
    assert sandbox.calcom.bookings == {}


async def test_an_unknown_channel_or_another_platforms_is_404(tenant: Tenant) -> None:
    channel, names = await vapi_bot(tenant)
    body = vapi_tool_calls(("c", names["check_availability"], {"startDate": "2099-01-05"}))
    headers = {"X-Vapi-Secret": channel["secret"]}
    elsewhere = [
        "/hooks/vapi/00000000-0000-4000-8000-000000000000",
        f"/hooks/retell/{channel['id']}",
        f"/hooks/elevenlabs/{channel['id']}/{names['check_availability']}",
    ]
    for path in elsewhere:
        response = await tenant.api.post(path, json=body, headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_messages_are_422(tenant: Tenant) -> None:
    channel, _ = await vapi_bot(tenant)
    for body in (
        {},
        {"message": "tool-calls"},
        {"message": {"type": "tool-calls", "toolCallList": [{"id": "c"}]}},
        {"message": {"type": "tool-calls", "toolCallList": [{"id": "", "function": {}}]}},
    ):
        response = await post_vapi(tenant.api, channel, body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    wrong = await tenant.api.post(
        channel["url"], content=b"not json", headers={"X-Vapi-Secret": channel["secret"]}
    )
    assert wrong.status_code in (400, 415)


async def test_another_institutions_channel_does_not_open_with_this_secret(
    tenant: Tenant, other_tenant: Tenant, sandbox: SandboxServer
) -> None:
    mine, names = await vapi_bot(tenant)
    theirs, _ = await vapi_bot(other_tenant)
    body = vapi_tool_calls(("c", names["create_booking"], booking("17:00")))
    response = await post_vapi(tenant.api, theirs, body, headers={"X-Vapi-Secret": mine["secret"]})
    assert response.status_code == 401
    assert sandbox.calcom.bookings == {}


async def test_the_caller_books_finds_and_cancels_by_their_number(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await vapi_bot(tenant)
    start = booking("16:30")["start"]

    booked = await post_vapi(
        tenant.api, channel, vapi_tool_calls(("c1", names["create_booking"], booking("16:30")))
    )
    found = await post_vapi(tenant.api, channel, vapi_tool_calls(("c2", names["find_booking"], {})))
    cancelled = await post_vapi(
        tenant.api, channel, vapi_tool_calls(("c3", names["cancel_booking"], {"start": start}))
    )

    assert "result" in booked.json()["results"][0], booked.text
    assert "result" in found.json()["results"][0], found.text
    assert "no upcoming bookings" not in found.json()["results"][0]["result"]
    assert "result" in cancelled.json()["results"][0], cancelled.text
    (made,) = sandbox.calcom.bookings.values()
    assert made.status == "cancelled"


async def test_hook_calls_count_against_the_bot_and_bad_secrets_against_address_and_channel(
    settings: Settings, keyring: Keyring, engine: AsyncEngine
) -> None:
    limits = {
        "rate_limit_per_bot": "2/minute",
        "rate_limit_per_token": "1000/minute",
        "rate_limit_auth_failures": "3/minute",
    }
    app = create_app(settings.model_copy(update=limits), keyring=keyring)
    async with app.router.lifespan_context(app):
        tenant = await create_tenant(app, "Limits Voice", "Front desk")
        channel, names = await vapi_bot(tenant)  # listing the tools: 1 of the bot's 2
        body = vapi_tool_calls(("c", names["check_availability"], {"startDate": "2099-01-05"}))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agentcal.test"
        ) as platform:
            # Informational messages run no tool, and are not counted.
            status = await post_vapi(platform, channel, fixture("vapi", "status-update"))
            assert status.status_code == 200
            second = await post_vapi(platform, channel, body)
            assert second.status_code == 200
            assert second.headers["ratelimit"].startswith('"bot-minute";r=0;')
            third = await post_vapi(platform, channel, body)
            assert third.status_code == 429
            assert "retry-after" in third.headers
            guesses = [
                await post_vapi(platform, channel, body, headers={"X-Vapi-Secret": f"guess{i}"})
                for i in range(4)
            ]
            assert [g.status_code for g in guesses] == [401, 401, 401, 401]
            refused = await post_vapi(platform, channel, fixture("vapi", "status-update"))
            assert refused.status_code == 429  # the address guessed too often
            # … on this channel only: the platform calls every tenant's channels from the
            # same addresses, and another's must not be locked out by one bad secret.
            other_tenant = await create_tenant(app, "Other Voice", "Front desk")
            other, _ = await vapi_bot(other_tenant)
            elsewhere = await post_vapi(platform, other, fixture("vapi", "status-update"))
            assert elsewhere.status_code == 200, elsewhere.text
