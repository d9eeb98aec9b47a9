"""A notification's secrets: the signing secret and the sealed document rotate with the
keys, and what the API shows of a notification never holds its content or target."""

from __future__ import annotations

import json

from fastapi import FastAPI

from agentcal.crypto import rotation
from agentcal.crypto.keyring import Keyring, generate_key, parse_key
from agentcal.db.engine import session_scope
from agentcal.notifications.models import PAYLOAD
from agentcal.providers.google_calendar.models import NOTIFICATION_SECRET
from agentcal.providers.google_calendar.service import get_function
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import notifying, rows, sink_url


async def test_rotating_the_keys_reseals_the_signing_secret_and_the_outbox(
    app: FastAPI, tenant: Tenant, sandbox: SandboxServer, lab: object, secret_key: str
) -> None:
    target = sink_url(sandbox, "rotation")
    function = await notifying(tenant, sandbox, "webhook", target, notificationDelayMs=600_000)
    await function.book("10:00")
    new_key = generate_key()
    both = Keyring.from_text(f"{new_key},{secret_key}")
    async with session_scope(app.state.sessionmaker) as session:
        report = await rotation.rotate(session, both)
    assert report.resealed >= 4  # Google token and refresh token, target, secret, document

    only_new = Keyring.from_text(new_key)
    [row] = await rows(app)
    assert row.payload_key_id == parse_key(new_key).id
    document = json.loads(PAYLOAD.open(only_new, row) or "")
    assert document["data"]["attendeeEmail"] == "maria@example.com"
    async with session_scope(app.state.sessionmaker) as session:
        stored = await get_function(session, row.institution_id, row.function_id)
        assert NOTIFICATION_SECRET.open(only_new, stored.google_calendar) == function.secret


async def test_the_listing_shows_no_content_and_no_target(
    tenant: Tenant, sandbox: SandboxServer, lab: object
) -> None:
    target = sink_url(sandbox, "quiet")
    function = await notifying(tenant, sandbox, "webhook", target, notificationDelayMs=600_000)
    await function.book("10:00")
    listed = json.dumps(await function.listed())
    for private in (target, "maria@example.com", "Maria Silva", str(function.secret)):
        assert private not in listed
