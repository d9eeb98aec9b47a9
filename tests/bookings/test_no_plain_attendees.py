"""The bookings index keeps no attendee's e-mail or phone in the clear: neither its table,
nor any other, nor the SQLite file holds them after bookings, a find, a move and a cancel
through both providers."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.engine import Base
from tests.bookings.support import index_rows
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom_user, calcom_user, call_tools
from tests.providers.google_calendar.functions_support import link_google_function, make_bot
from tests.support import next_monday

EMAIL = "paciente.reservada.4c9e@consulta-sigilosa.example"
PHONE = "(11) 97531-8642"
# Every form of the number that could be stored: as given, E.164, its digits.
PHONE_FORMS = [PHONE, "+5511975318642", "5511975318642", "11975318642", "975318642", "97531-8642"]


async def _names(tenant: Tenant, bot_id: str, slug: str) -> dict[str, str]:
    tools = await tenant.api.get(f"/api/v1/bots/{bot_id}/tools")
    assert tools.status_code == 200, tools.text
    return {
        t["function"]["name"].removesuffix(f"_{slug}"): t["function"]["name"]
        for t in tools.json()["tools"]
    }


async def _use(tenant: Tenant, bot_id: str, names: dict[str, str]) -> None:
    """Book, find, move and cancel by phone and e-mail: every way the index is written."""
    day = next_monday().isoformat()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("create_booking", {"start": f"{day}T10:00", "attendeeName": "Ana", "attendeeEmail": EMAIL,
                            "attendeePhone": PHONE}),
        ("create_booking", {"start": f"{day}T11:00", "attendeeName": "Ana", "attendeeEmail": EMAIL,
                            "attendeePhone": PHONE}),
        ("find_booking", {"attendeePhone": PHONE}),
        ("reschedule_booking", {"attendeePhone": PHONE, "start": f"{day}T10:00",
                                "newStart": f"{day}T14:00"}),
        ("cancel_booking", {"attendeeEmail": EMAIL, "start": f"{day}T11:00"}),
    ]  # fmt: skip
    for action, arguments in calls:
        call = {"id": uuid.uuid4().hex, "name": names[action], "arguments": arguments}
        (result,) = (await call_tools(tenant, bot_id, call))["results"]
        assert result["ok"] is True, (action, result)


@pytest.fixture
async def indexed(tenant: Tenant, sandbox: SandboxServer, engine: AsyncEngine) -> None:
    """Bookings of the attendee through a Cal.com integration and a Google function."""
    user = await calcom_user(sandbox, [("30min", 30)])
    bot_id, _, names = await bot_with_calcom_user(tenant, user, defaultEventTypeSlug="30min")
    await _use(tenant, bot_id, names)
    google_bot = await make_bot(tenant, name="Front desk")
    await link_google_function(tenant, sandbox, google_bot, name="Dr Bia")
    await _use(tenant, google_bot, await _names(tenant, google_bot, "dr_bia"))
    rows = await index_rows(engine)
    assert len(rows) == 4  # two bookings per function
    assert all(row.email_hmac and row.phone_hmac for row in rows)


async def test_no_column_of_any_table_holds_the_attendee(
    indexed: None, engine: AsyncEngine
) -> None:
    dump = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(select(table)):
                dump += [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row]
    everything = "\n".join(dump).casefold()
    assert "booked" in everything  # sanity: the index's rows were dumped
    for private in [EMAIL, EMAIL.split("@")[0], *PHONE_FORMS]:
        assert private.casefold() not in everything


async def test_the_sqlite_file_does_not_hold_the_attendee(
    indexed: None, engine: AsyncEngine, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the database file exists only on SQLite; the column scan covers PostgreSQL")
    async with engine.connect() as connection:
        await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    path = Path(database_url.split("///", 1)[1])
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    # Read by another process, as tests/crypto/test_secrets_at_rest.py explains.
    raw = b"".join(
        subprocess.run(["cat", str(p)], capture_output=True, check=True).stdout for p in files
    )
    assert len(raw) > 0
    for private in [EMAIL, *PHONE_FORMS]:
        assert private.encode() not in raw
        assert private.encode("utf-16-le") not in raw
