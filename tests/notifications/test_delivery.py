"""Notifications end to end: a booking through a tool call, the outbox, a worker, and
the channel's sandbox over real HTTP (webhook sink, Discord, Telegram)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from agentcal.notifications.worker import Worker
from agentcal.sandbox.faults import Fault
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import Notifying, notifying, rows, sink_url
from tests.support import wait_until

StartWorker = Callable[..., Worker]


def _received(sandbox: SandboxServer, name: str) -> list[Any]:
    return list(sandbox.state.channels.sink.get(name, []))


async def _status(function: Notifying, wanted: str, count: int = 1) -> list[dict[str, Any]]:
    """The function's notifications, once `count` of them have the status `wanted`."""
    found: list[dict[str, Any]] = []

    async def reached() -> bool:
        nonlocal found
        found = await function.listed()
        return sum(n["status"] == wanted for n in found) >= count

    await wait_until(reached, timeout=15, interval=0.05)
    return found


async def _sandbox_post(sandbox: SandboxServer, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        made = await http.post(path)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


# ------------------------------------------------------------------------- webhook


async def test_a_booking_reaches_the_webhook_signed_with_the_functions_secret(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "signed"))
    assert function.secret is not None
    assert function.secret.startswith("whsec_")
    booked = await function.book("10:00")
    assert booked["notifications"][0]["event"] == "booking.created"

    await wait_until(lambda: len(_received(sandbox, "signed")) == 1, timeout=10)
    [delivery] = _received(sandbox, "signed")
    # Verified as a receiver does, with the secret shown once at creation.
    document = Webhook(function.secret).verify(delivery.body, delivery.headers)
    assert delivery.headers["content-type"] == "application/json"
    assert document["type"] == "booking.created"
    data = document["data"]
    assert data["functionId"] == function.function_id
    assert data["bookingId"] == booked["data"]["bookingId"]
    assert data["attendeeName"] == "Maria Silva"
    assert data["attendeeEmail"] == "maria@example.com"
    assert data["title"] == "Consulta"
    assert data["start"] == booked["data"]["start"]
    assert data["timeZone"] == "America/Sao_Paulo"
    # The default text names the meeting, the attendee and the local time with its zone.
    assert data["content"].startswith("New booking: Consulta with Maria Silva, Monday ")
    assert data["content"].endswith(", 10:00 (America/Sao_Paulo).")

    [listed] = await _status(function, "delivered")
    assert listed["event"] == "booking.created"
    assert listed["channel"] == "webhook"
    assert listed["attempts"] == 1
    assert listed["lastError"] is None
    assert listed["nextAttemptAt"] is None
    assert (
        delivery.headers["webhook-id"]
        == listed["webhookId"]
        == f"msg_{uuid.UUID(listed['id']).hex}"
    )


async def test_cancel_and_move_are_notified_with_their_events(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    template = "{{event}}: {{attendeeName}} at {{startIso}} ({{bookingId}})"
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "events"), notificationContent=template
    )
    booked = await function.book("10:00")
    booking_id = booked["data"]["bookingId"]
    monday = booked["data"]["start"][:10]
    moved = await function.call(
        "reschedule_booking", {"bookingId": booking_id, "newStart": f"{monday}T11:00"}
    )
    assert moved["ok"] is True, moved
    cancelled = await function.call("cancel_booking", {"bookingId": booking_id})
    assert cancelled["ok"] is True, cancelled

    await wait_until(lambda: len(_received(sandbox, "events")) == 3, timeout=10)
    documents = [json.loads(r.body) for r in _received(sandbox, "events")]
    by_type = {d["type"]: d["data"] for d in documents}
    assert set(by_type) == {"booking.created", "booking.rescheduled", "booking.cancelled"}
    assert by_type["booking.rescheduled"]["start"].startswith(f"{monday}T11:00")
    assert by_type["booking.rescheduled"]["content"] == (
        f"booking.rescheduled: Maria Silva at {monday}T11:00:00-03:00 ({booking_id})"
    )
    assert by_type["booking.cancelled"]["bookingId"] == booking_id
    # One webhook-id per notification: three notifications, three ids.
    assert len({r.headers["webhook-id"] for r in _received(sandbox, "events")}) == 3


async def test_json_content_is_the_template_document_with_values_inside_its_strings(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    template = json.dumps({"who": "{{attendeeName}}", "when": ["{{startIso}}"], "n": 3})
    function = await notifying(
        tenant,
        sandbox,
        "webhook",
        sink_url(sandbox, "json"),
        notificationContentType="json",
        notificationContent=template,
    )
    # A name that would break a JSON document built by pasting text into it.
    booked = await function.book("10:00", attendeeName='Ana "Bia" O\'Neil}')
    await wait_until(lambda: len(_received(sandbox, "json")) == 1, timeout=10)
    content = json.loads(_received(sandbox, "json")[0].body)["data"]["content"]
    assert content == {
        "who": 'Ana "Bia" O\'Neil}',
        "when": [booked["data"]["start"]],
        "n": 3,
    }


async def test_the_delay_is_honoured(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "later"), notificationDelayMs=1500
    )
    await function.book("10:00")
    [row] = await rows(app)
    assert row.due_at - row.created_at == timedelta(milliseconds=1500)
    await wait_until(lambda: len(_received(sandbox, "later")) == 1, timeout=10)
    arrived = _received(sandbox, "later")[0].at
    assert arrived >= row.created_at.timestamp() + 1.5


async def test_a_receiver_failing_twice_gets_one_delivery_and_the_same_id_each_time(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    target = sink_url(sandbox, "flaky") + "?answers=500,503"
    function = await notifying(tenant, sandbox, "webhook", target)
    await function.book("10:00")
    [listed] = await _status(function, "delivered")
    attempts = _received(sandbox, "flaky")
    assert [a.status for a in attempts] == [500, 503, 200]  # one delivery, after two failures
    assert {a.headers["webhook-id"] for a in attempts} == {listed["webhookId"]}
    assert listed["attempts"] == 3
    # Each attempt is signed afresh, with its own timestamp.
    assert all(Webhook(str(function.secret)).verify(a.body, a.headers) for a in attempts)


async def test_a_gone_receiver_ends_dead_and_redelivery_sends_it_again(
    tenant: Tenant,
    other_tenant: Tenant,
    sandbox: SandboxServer,
    lab: Settings,
    start_worker: StartWorker,
) -> None:
    start_worker()
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "gone") + "?answers=410"
    )
    await function.book("10:00")
    [dead] = await _status(function, "dead")
    assert dead["attempts"] == 1  # a 410 is not tried again
    assert dead["lastError"] == "the webhook receiver answered HTTP 410"
    assert dead["nextAttemptAt"] is None
    assert await function.listed(status="dead") == [dead]
    assert await function.listed(status="pending") == []

    url = f"/api/v1/notifications/{dead['id']}/redeliver"
    # Another institution's token finds nothing to redeliver, nor lists anything.
    assert (await other_tenant.api.post(url)).status_code == 404
    foreign = await other_tenant.api.get("/api/v1/notifications")
    assert foreign.json()["data"] == []

    queued = await tenant.api.post(url)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "pending"
    assert queued.json()["attempts"] == 0
    [delivered] = await _status(function, "delivered")
    attempts = _received(sandbox, "gone")
    assert [a.status for a in attempts] == [410, 200]
    assert {a.headers["webhook-id"] for a in attempts} == {delivered["webhookId"]}
    assert (
        await tenant.api.post("/api/v1/notifications/" + str(uuid.uuid4()) + "/redeliver")
    ).status_code == 404


async def test_a_rotated_secret_signs_what_is_sent_after_it(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "rotated"))
    old = str(function.secret)
    rotated = await tenant.api.post(f"/api/v1/functions/{function.function_id}/notification-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["googleCalendarPlugin"][0]["notificationSecret"]
    assert new.startswith("whsec_")
    assert new != old
    shown = await tenant.api.get(f"/api/v1/functions/{function.function_id}")
    assert shown.json()["googleCalendarPlugin"][0]["notificationSecret"] == "whsec_" + "*" * 16
    start_worker()
    await function.book("10:00")
    await wait_until(lambda: len(_received(sandbox, "rotated")) == 1, timeout=10)
    [delivery] = _received(sandbox, "rotated")
    assert Webhook(new).verify(delivery.body, delivery.headers)
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(old).verify(delivery.body, delivery.headers)


async def test_a_deleted_function_leaves_its_pending_notification_dead(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "deleted"), notificationDelayMs=300
    )
    await function.book("10:00")
    deleted = await tenant.api.delete(f"/api/v1/functions/{function.function_id}")
    assert deleted.status_code == 204
    start_worker()
    [dead] = await _status(function, "dead")
    assert dead["lastError"].startswith("function-deleted")
    assert _received(sandbox, "deleted") == []


# ------------------------------------------------------------------------- Discord


async def test_a_booking_reaches_discord_as_text_and_as_an_embed(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    hooks = [await _sandbox_post(sandbox, "/sandbox/discord/webhooks") for _ in range(2)]
    targets = [f"https://discord.com/api/webhooks/{h['id']}/{h['token']}" for h in hooks]
    text = await notifying(
        tenant, sandbox, "discord", targets[0], notificationContent="@everyone {{attendeeName}}"
    )
    embed = await notifying(tenant, sandbox, "discord", targets[1], notificationContentType="json")
    await text.book("10:00")
    booked = await embed.book("11:00")
    webhooks = sandbox.state.channels.discord
    await wait_until(lambda: all(len(webhooks[h["id"]].messages) == 1 for h in hooks), timeout=10)
    [plain] = webhooks[hooks[0]["id"]].messages
    assert plain["content"] == "@everyone Maria Silva"  # sent, but pinging nobody
    [rich] = webhooks[hooks[1]["id"]].messages
    assert rich["content"] == ""
    [card] = rich["embeds"]
    assert card["title"] == "Booking created: Consulta"
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Booking id"] == booked["data"]["bookingId"]
    assert fields["Attendee"] == "Maria Silva"
    assert '"bookingId"' in card["description"]
    assert (await text.listed())[0]["status"] == "delivered"


async def test_discords_rate_limit_is_waited_out_as_it_asks(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    hook = await _sandbox_post(sandbox, "/sandbox/discord/webhooks")
    sandbox.state.faults.rules.append(
        Fault(path_prefix=f"/discord/api/webhooks/{hook['id']}", status=429, retry_after=1.2)
    )
    target = f"https://discord.com/api/webhooks/{hook['id']}/{hook['token']}"
    function = await notifying(tenant, sandbox, "discord", target)
    await function.book("10:00")
    [listed] = await _status(function, "delivered")
    assert listed["attempts"] == 2
    waited = _seconds(listed["deliveredAt"]) - _seconds(listed["createdAt"])
    assert waited >= 1.2  # not the 0.3 s the retry schedule says


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------------- Telegram


async def test_a_booking_reaches_telegram_and_its_rate_limit_is_waited_out(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    bot = await _sandbox_post(sandbox, "/sandbox/telegram/bots")
    sandbox.state.faults.rules.append(
        Fault(path_prefix=f"/telegram/bot{bot['token']}", status=429, retry_after=1.0)
    )
    function = await notifying(
        tenant, sandbox, "telegram", bot["target"], notificationContentType="json"
    )
    booked = await function.book("10:00")
    [listed] = await _status(function, "delivered")
    assert listed["attempts"] == 2
    assert _seconds(listed["deliveredAt"]) - _seconds(listed["createdAt"]) >= 1.0
    [message] = sandbox.state.channels.telegram[bot["token"]].messages
    document = json.loads(message["text"])  # JSON content, sent as its text
    assert document["bookingId"] == booked["data"]["bookingId"]
    assert document["event"] == "booking.created"


async def test_telegram_refusing_the_bot_token_ends_dead(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    unknown = "123456789:AAHnotarealbottokenatallnotreal12345:-100123"
    function = await notifying(tenant, sandbox, "telegram", unknown)
    await function.book("10:00")
    [dead] = await _status(function, "dead")
    assert dead["lastError"] == "Telegram refused the message: Unauthorized"
    assert "AAHnotarealbottoken" not in json.dumps(await function.listed())


async def test_metrics_count_deliveries_and_measure_the_outbox(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: Settings,
    start_worker: StartWorker,
) -> None:
    from agentcal.notifications import outbox

    def delivered_count(text: str) -> float:
        line = 'agentcal_notification_deliveries_total{channel="webhook",outcome="delivered"}'
        found = [ln for ln in text.splitlines() if ln.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before = delivered_count((await client.get("/metrics")).text)
    waiting = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "metered"), notificationDelayMs=600_000
    )
    await waiting.book("10:00")  # due in ten minutes: pending, not late
    await outbox.measure(app.state.engine)
    text = (await client.get("/metrics")).text
    assert "agentcal_outbox_depth 1.0" in text
    assert "agentcal_outbox_oldest_pending_seconds 0.0" in text

    start_worker()
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "metered-now"))
    await function.book("11:00")
    await _status(function, "delivered")
    after = (await client.get("/metrics")).text
    assert delivered_count(after) == before + 1
    assert sandbox.url not in after  # targets never reach the metrics


async def test_a_webhook_s_retry_after_is_honoured(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker()
    sandbox.state.faults.rules.append(
        Fault(path_prefix="/sandbox/webhooks/busy", status=429, retry_after=1.0)
    )
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "busy"))
    await function.book("10:00")
    [listed] = await _status(function, "delivered")
    assert listed["attempts"] == 2
    assert _seconds(listed["deliveredAt"]) - _seconds(listed["createdAt"]) >= 1.0


async def test_a_receiver_that_never_answers_is_tried_again_after_the_time_out(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: StartWorker
) -> None:
    start_worker(notification_timeout_seconds=0.5)
    sandbox.state.faults.rules.append(Fault(path_prefix="/sandbox/webhooks/silent", hang=True))
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "silent"))
    await function.book("10:00")
    [listed] = await _status(function, "delivered")
    assert listed["attempts"] == 2
    assert len(_received(sandbox, "silent")) == 1  # the hung attempt never reached the sink
