"""A notification in its bot's language: the default text and `{{start}}` alike."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from agentcal.notifications.worker import Worker
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import Notifying, sink_url
from tests.providers.google_calendar.functions_support import body_for, make_bot
from tests.providers.google_calendar.support import new_account
from tests.support import wait_until


async def test_a_spanish_bots_booking_is_notified_in_spanish(
    tenant: Tenant, sandbox: SandboxServer, lab: Settings, start_worker: Callable[..., Worker]
) -> None:
    start_worker()
    bot_id = await make_bot(tenant)
    changed = await tenant.api.put(
        f"/api/v1/bots/{bot_id}",
        json={"name": "Recepción", "unitId": tenant.unit_id, "language": "es"},
    )
    assert changed.status_code == 200, changed.text
    account = await new_account(sandbox)
    calendar = {
        "googleId": account.google_id,
        "calendarId": account.email,
        "googleToken": account.access_token,
        "googleRefreshToken": account.refresh_token,
        "notificationType": "webhook",
        "notificationContent": None,
        "notificationTarget": sink_url(sandbox, "spanish"),
    }
    created = await tenant.api.post(
        "/api/v1/functions/", json=body_for(tenant, botId=bot_id, googleCalendar=calendar)
    )
    assert created.status_code == 201, created.text
    function = Notifying(tenant, created.json()["id"], None)

    booked = await function.book("10:00")

    assert booked["content"].startswith("Reservado: «Consulta» con Maria Silva, lunes, ")
    received: list[Any] = []

    def arrived() -> bool:
        received[:] = sandbox.state.channels.sink.get("spanish", [])
        return len(received) == 1

    await wait_until(arrived, timeout=10)
    content = json.loads(received[0].body)["data"]["content"]
    assert re.fullmatch(
        r"Nueva reserva: Consulta con Maria Silva, lunes, \d+ de \w+ de \d{4}, 10:00 "
        r"\(America/Sao_Paulo\)\.",
        content,
    ), content
