"""The Retell hook: signed custom-function requests, answered once even when retried."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.runtime.models import ToolCallRecord
from agentcal.sandbox.faults import Fault
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom
from tests.runtime.channels.hooks_support import (
    CALLER,
    create_channel,
    post_retell,
    retell_bytes,
    retell_request,
    retell_signature,
)
from tests.server_errors import watch_server_errors
from tests.servers import serve_in_thread
from tests.support import next_monday, wait_until

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

MINUTE_MS = 60_000


async def retell_bot(tenant: Tenant) -> tuple[dict[str, Any], dict[str, str]]:
    """A Retell channel of a bot with the demo Cal.com integration; its tool names."""
    bot_id, _, names = await bot_with_calcom(tenant)
    return await create_channel(tenant, bot_id, "retell"), names


def booking(hhmm: str) -> dict[str, Any]:
    return {
        "start": f"{next_monday().isoformat()}T{hhmm}",
        "attendeeName": "João Souza",
        "attendeeEmail": "joao@example.com",
    }


async def test_a_signed_request_is_answered_with_result_ok_and_data(tenant: Tenant) -> None:
    channel, names = await retell_bot(tenant)
    body = retell_request(names["check_availability"], {"startDate": next_monday().isoformat()})

    response = await post_retell(tenant.api, channel, body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"result", "ok", "data"}
    assert answer["ok"] is True
    assert answer["result"]
    assert answer["data"]["slots"]


async def test_the_recorded_request_runs_as_retell_sent_it(tenant: Tenant) -> None:
    """The fixture as it is, but for the tool's name and a day ahead."""
    channel, names = await retell_bot(tenant)
    body = retell_request(names["check_availability"], {})
    body["args"] = {"startDate": next_monday().isoformat(), "timeZone": "America/Sao_Paulo"}
    response = await post_retell(tenant.api, channel, body)
    assert response.json()["ok"] is True


async def test_a_tool_failure_is_a_200_with_its_error(tenant: Tenant) -> None:
    channel, names = await retell_bot(tenant)
    body = retell_request(names["check_availability"], {"startDate": "next blue moon"})

    response = await post_retell(tenant.api, channel, body)

    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] is False
    assert answer["error"]["code"] == "invalid_datetime"
    assert answer["result"] == answer["error"]["message"]


async def test_a_booking_takes_the_callers_number_and_a_retry_replays_it(
    tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine
) -> None:
    channel, names = await retell_bot(tenant)
    body = retell_request(names["create_booking"], booking("10:00"))

    first = await post_retell(tenant.api, channel, body)
    retried = await post_retell(tenant.api, channel, body)  # signed again, as Retell does

    assert first.json()["ok"] is True, first.text
    assert retried.json() == first.json()
    (booked,) = sandbox.calcom.bookings.values()
    assert booked.attendee["phoneNumber"] == CALLER
    async with engine.connect() as conn:  # the repeat never ran: one audited call
        calls = await conn.scalar(select(func.count()).select_from(ToolCallRecord))
    assert calls == 1


async def test_the_same_booking_in_another_call_is_another_call(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await retell_bot(tenant)
    first = retell_request(names["create_booking"], booking("11:00"), call_id="call_one")
    second = retell_request(names["create_booking"], booking("11:00"), call_id="call_two")

    assert (await post_retell(tenant.api, channel, first)).json()["ok"] is True
    other = (await post_retell(tenant.api, channel, second)).json()

    assert other["ok"] is False
    assert other["error"]["code"] == "slot_unavailable"  # its own try, not a replay
    assert len(sandbox.calcom.bookings) == 1


async def test_questions_are_asked_again_not_replayed(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    """Within one call, the same question after a booking gets a new answer."""
    channel, names = await retell_bot(tenant)
    monday = next_monday().isoformat()
    question = retell_request(names["check_availability"], {"startDate": monday})
    before = (await post_retell(tenant.api, channel, question)).json()
    assert f"{monday}T09:00:00-03:00" in [s["start"] for s in before["data"]["slots"]]
    book = retell_request(names["create_booking"], booking("09:00"))
    assert (await post_retell(tenant.api, channel, book)).json()["ok"] is True

    after = (await post_retell(tenant.api, channel, question)).json()

    assert f"{monday}T09:00:00-03:00" not in [s["start"] for s in after["data"]["slots"]]


async def test_an_outbound_calls_number_is_the_person_called(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await retell_bot(tenant)
    body = retell_request(names["create_booking"], booking("12:00"), direction="outbound")
    body["call"]["to_number"] = "+5521998765432"
    body["call"]["from_number"] = "+551130000000"  # the agent's own line

    assert (await post_retell(tenant.api, channel, body)).json()["ok"] is True

    (booked,) = sandbox.calcom.bookings.values()
    assert booked.attendee["phoneNumber"] == "+5521998765432"


async def test_unsigned_or_badly_signed_requests_are_401(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await retell_bot(tenant)
    body = retell_request(names["create_booking"], booking("13:00"))
    raw = retell_bytes(body)
    now = int(time.time() * 1000)
    tampered = retell_bytes({**body, "args": booking("13:30")})
    for signature, sent in (
        (None, raw),
        ("", raw),
        ("v=123", raw),
        (retell_signature(raw, "key_someone_else"), raw),  # not the channel's key
        (retell_signature(raw, at_ms=now - 6 * MINUTE_MS), raw),  # replayed later
        (retell_signature(raw, at_ms=now + 6 * MINUTE_MS), raw),
        (retell_signature(raw), tampered),  # a body the signature does not cover
        (retell_signature(raw).upper(), raw),
    ):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Retell-Signature"] = signature
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=tenant.app), base_url="http://agentcal.test"
        ) as client:
            response = await client.post(channel["url"], content=sent, headers=headers)
        assert response.status_code == 401, signature
        assert response.headers["content-type"] == "application/problem+json"
        assert "X-Retell-Signature" in response.json()["detail"]
    assert sandbox.calcom.bookings == {}
    # Within the window either way, it is accepted.
    late = await post_retell(tenant.api, channel, body, at_ms=now - 4 * MINUTE_MS)
    assert late.status_code == 200


async def test_a_request_signed_with_another_channels_key_is_401(tenant: Tenant) -> None:
    channel, names = await retell_bot(tenant)
    other = await create_channel(tenant, channel["botId"], "retell", signingKey="key_other_1")
    body = retell_request(names["check_availability"], {"startDate": "2099-01-05"})
    assert (await post_retell(tenant.api, other, body)).status_code == 401
    assert (await post_retell(tenant.api, other, body, key="key_other_1")).status_code == 200


async def test_malformed_requests_are_422(tenant: Tenant) -> None:
    channel, _ = await retell_bot(tenant)
    for body in (
        {},
        {"name": "x"},
        {"name": "x", "call": {}},
        {"name": "", "call": {"call_id": "c"}},
    ):
        response = await post_retell(tenant.api, channel, body)
        assert response.status_code == 422, body


# ------------------------------------------------------------- timeouts and retries


@pytest.fixture(scope="module")
def served(engine: AsyncEngine, settings: Settings, keyring: Keyring) -> Iterator[str]:
    """agentcal on a loopback port, lifespan and all: a client can time out on it."""
    with serve_in_thread(create_app(settings, keyring=keyring), lifespan=True) as url:
        yield url


async def test_a_booking_that_outlives_retells_timeout_is_made_once_when_retried(
    tenant: Tenant, sandbox: SandboxServer, served: str
) -> None:
    """Retell gives up on a slow answer and sends the request again: the retry waits for
    the first call, which goes on after its client left, and answers its booking."""
    channel, names = await retell_bot(tenant)
    channel["url"] = channel["url"].replace("http://agentcal.test", served)
    # Cal.com books at once and answers 1.5 s later: longer than the client waits.
    slow = Fault(
        path_prefix="/calcom/v2/bookings", methods=frozenset({"POST"}), delay_after_ms=1500
    )
    sandbox.state.faults.rules.append(slow)
    body = retell_request(names["create_booking"], booking("15:00"))

    async with httpx.AsyncClient() as retell:
        with pytest.raises(httpx.ReadTimeout):
            await post_retell(retell, channel, body, timeout=0.5)
        await wait_until(lambda: len(sandbox.calcom.bookings) == 1)
        retried = await post_retell(retell, channel, body, timeout=30)
        again = await post_retell(retell, channel, body, timeout=30)

    assert retried.status_code == 200
    assert retried.json()["ok"] is True, retried.text
    (uid,) = sandbox.calcom.bookings
    assert retried.json()["data"]["bookingId"] == uid
    assert again.json() == retried.json()


async def test_the_caller_books_finds_and_cancels_by_their_number(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    channel, names = await retell_bot(tenant)
    start = booking("16:30")["start"]

    booked = await post_retell(
        tenant.api, channel, retell_request(names["create_booking"], booking("16:30"))
    )
    found = await post_retell(tenant.api, channel, retell_request(names["find_booking"], {}))
    cancelled = await post_retell(
        tenant.api, channel, retell_request(names["cancel_booking"], {"start": start})
    )

    booking_id = booked.json()["data"]["bookingId"]
    assert [b["bookingId"] for b in found.json()["data"]["bookings"]] == [booking_id]
    assert cancelled.json()["ok"] is True, cancelled.text
    assert sandbox.calcom.bookings[booking_id].status == "cancelled"
