"""Secrets are sealed at rest: the plain API key and OAuth tokens are nowhere in storage."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.engine import Base, utcnow
from agentcal.notifications import outbox
from agentcal.notifications.events import BookingFacts, Notification
from tests.factories import (
    CALCOM_API_KEY,
    GOOGLE_ACCESS_TOKEN,
    GOOGLE_REFRESH_TOKEN,
    Tenant,
    calcom_body,
    calcom_update_body,
    google_function_body,
)

WEBHOOK = "https://hooks.clinica-exemplo.com.br/agentcal/8c1e5a7f0b2d4e6a"
ROTATED_KEY = "cal_live_rotated_9a8b7c6d5e4f3a2b"


async def _store_every_secret(tenant: Tenant) -> list[str]:
    """Store every kind of secret; the generated ones (signing secrets) are answered."""
    created = await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    assert created.status_code == 201
    body = google_function_body(
        tenant.user_id,
        tenant.unit_id,
        googleCalendar={
            "googleRefreshToken": GOOGLE_REFRESH_TOKEN,
            "notificationType": "webhook",
            "notificationTarget": WEBHOOK,
        },
    )
    function = await tenant.api.post("/api/v1/functions/", json=body)
    assert function.status_code == 201
    duplicate = await tenant.api.post(f"/api/v1/functions/duplicate/{function.json()['id']}")
    assert duplicate.status_code == 201
    signing = [
        answer.json()["googleCalendarPlugin"][0]["notificationSecret"]
        for answer in (function, duplicate)
    ]
    await _queue_notification(tenant, function.json()["id"])
    # Rotating the API key must not leave the old one behind either.
    rotated = await tenant.api.put(
        f"/api/v1/calcom/integration/{created.json()['id']}",
        json={**calcom_update_body(tenant.unit_id), "apiKey": ROTATED_KEY},
    )
    assert rotated.status_code == 200
    return signing


ATTENDEE = "paciente.sigilosa.7f3a@consulta-privada.example"


async def _queue_notification(tenant: Tenant, function_id: str) -> None:
    """A notification in the outbox: its document names the attendee."""
    now = utcnow()
    facts = BookingFacts("evt1", now, now + timedelta(minutes=30), "UTC", "Ana", ATTENDEE)
    origin = outbox.Origin(
        uuid.UUID(tenant.institution_id), "google_calendar", uuid.UUID(function_id), None, now
    )
    notification = Notification("booking.created", "webhook", "text", 0, 0, facts)
    async with tenant.app.state.engine.begin() as connection:
        await outbox.enqueue(
            connection, tenant.app.state.keyring, origin, [notification], give_up_after=60
        )


SECRETS = [CALCOM_API_KEY, ROTATED_KEY, GOOGLE_ACCESS_TOKEN, GOOGLE_REFRESH_TOKEN, WEBHOOK]


async def test_no_column_of_any_table_holds_a_plain_secret(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    secrets = SECRETS + [ATTENDEE] + await _store_every_secret(tenant)
    dump = []
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for value in row:
                    dump.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    everything = "\n".join(dump)
    assert "ciphertext" not in everything  # sanity: we dumped values, not names
    for secret in secrets:
        assert secret not in everything
        assert secret[-12:] not in everything


async def test_the_sqlite_file_does_not_contain_a_plain_secret(
    tenant: Tenant, engine: AsyncEngine, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the database file exists only on SQLite; the column scan covers PostgreSQL")
    secrets = SECRETS + [ATTENDEE] + await _store_every_secret(tenant)
    # Delete one integration so freed pages are in play too (secure_delete zeroes them).
    listed = await tenant.api.get(f"/api/v1/calcom/integration/unit/{tenant.unit_id}")
    await tenant.api.delete(f"/api/v1/calcom/integration/{listed.json()['data'][0]['id']}")
    async with engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    path = Path(database_url.split("///", 1)[1])
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    # Read by another process: closing a descriptor of the database (or its -shm) in
    # this one would drop the POSIX locks SQLite holds on it here, and another process
    # opening it then (a test's `agentcal serve`) would reset the WAL index under this
    # process's connections.
    raw = b"".join(
        subprocess.run(["cat", str(p)], capture_output=True, check=True).stdout for p in files
    )
    assert len(raw) > 0
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw
