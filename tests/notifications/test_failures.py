"""What must not happen whatever a notification's settings or the database hold: a
booking failing for its notification, a 5xx for a template, a notification tried
forever, a redelivery undoing a worker's claim."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from agentcal.db.engine import utcnow
from agentcal.notifications.models import NotificationRecord
from agentcal.notifications.worker import Worker
from agentcal.providers.google_calendar.models import GoogleCalendarPlugin
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import notifying, rows, rows_when, save_function, sink_url
from tests.providers.google_calendar.functions_support import error_fields
from tests.support import wait_until


async def _set(app: FastAPI, model: Any, **values: Any) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(update(model).values(**values))


async def test_a_template_that_cannot_render_leaves_the_booking_made_and_says_why(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, lab: object
) -> None:
    """A template stored before templates were checked (not JSON, with the JSON type)."""
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "broken"))
    await _set(
        app,
        GoogleCalendarPlugin,
        notification_content_type="json",
        notification_content="{{title}} is not JSON",
    )
    booked = await function.book("10:00")  # made and answered, the record written
    assert booked["ok"] is True
    [row] = await rows(app)
    assert row.status == "dead"
    assert row.last_error is not None
    assert row.last_error.startswith("template-error:")


async def test_a_json_template_nested_too_deep_is_a_422(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    deep = "[" * 1500 + '"{{title}}"' + "]" * 1500
    for content in (deep, "[" * 40 + "1" + "]" * 40):
        response = await save_function(
            tenant, sandbox, notificationContentType="json", notificationContent=content
        )
        assert error_fields(response) == ["googleCalendar.notificationContent"]


async def test_a_notification_past_its_give_up_time_ends_dead_unsent(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: object,
    start_worker: Callable[..., Worker],
) -> None:
    """As one whose attempts kept killing their worker: claimed again after a day."""
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "too-late"), notificationDelayMs=600_000
    )
    await function.book("10:00")
    await _set(app, NotificationRecord, due_at=utcnow(), give_up_at=utcnow(), attempts=7)
    start_worker()
    [row] = await rows_when(app, lambda found: [r.status for r in found] == ["dead"])
    assert row.last_error == "gave up after 7 attempts: past its day of retries"
    assert sandbox.state.channels.sink.get("too-late", []) == []


async def test_a_notification_this_worker_cannot_open_is_tried_again_later(
    app: FastAPI,
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: object,
    start_worker: Callable[..., Worker],
) -> None:
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "sealed"), notificationDelayMs=600_000
    )
    await function.book("10:00")
    await _set(app, NotificationRecord, due_at=utcnow(), payload_key_id="not-a-key-here")
    start_worker()
    [row] = await rows_when(app, lambda found: [r.attempts for r in found] == [1])
    assert row.status == "pending"
    assert row.last_error == "unreadable: sealed with a key this worker lacks"
    assert row.due_at > utcnow()


async def test_redelivering_a_notification_being_sent_is_a_409(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, lab: object
) -> None:
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "busy-now"), notificationDelayMs=600_000
    )
    await function.book("10:00")
    claim = uuid.uuid4()
    await _set(
        app, NotificationRecord, claim_id=claim, lease_expires_at=utcnow() + timedelta(minutes=1)
    )
    [listed] = await function.listed()
    url = f"/api/v1/notifications/{listed['id']}/redeliver"
    answer = await tenant.api.post(url)
    assert answer.status_code == 409, answer.text
    [row] = await rows(app)
    assert row.claim_id == claim  # the worker's claim stands

    # Once nobody holds it, a pending notification (here: not due for ten minutes) is
    # redelivered now.
    await _set(app, NotificationRecord, claim_id=None, lease_expires_at=None)
    answer = await tenant.api.post(url)
    assert answer.status_code == 202, answer.text
    [row] = await rows(app)
    assert row.due_at <= utcnow()


async def test_discord_threads_are_kept(
    tenant: Tenant, sandbox: SandboxServer, lab: object, start_worker: Callable[..., Worker]
) -> None:
    start_worker()
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        hook = (await http.post("/sandbox/discord/webhooks")).json()
    target = f"https://discord.com/api/webhooks/{hook['id']}/{hook['token']}?thread_id=777"
    function = await notifying(tenant, sandbox, "discord", target)
    await function.book("10:00")
    webhook = sandbox.state.channels.discord[hook["id"]]
    await wait_until(lambda: len(webhook.messages) == 1, timeout=10)
    assert webhook.messages[0]["channel_id"] == "777"  # posted into the thread
    assert json.dumps(await function.listed()).count(hook["token"]) == 0
