"""The bookings index itself: normalised, keyed, function-bound hashes; lookups across a
key rotation; what a call's changes do to the entries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.bookings import index
from agentcal.bookings.index import Attendee, Change
from agentcal.bookings.models import BookingEntry
from agentcal.crypto.keyring import Keyring, generate_key
from tests.factories import Tenant

SAO_PAULO = "America/Sao_Paulo"
FUNCTION = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
OTHER_FUNCTION = uuid.UUID("00000000-0000-4000-8000-0000000000f2")
KIND = "calcom"


@pytest.mark.parametrize(
    "spelling",
    [
        "+5511987654321",
        "+55 11 98765-4321",
        "(11) 98765-4321",
        "11 98765 4321",
        "0055 11 987654321",
    ],
)
def test_every_spelling_of_a_number_is_one_e164_number(spelling: str) -> None:
    assert Attendee.of(None, spelling, SAO_PAULO).phone == "+5511987654321"


def test_a_local_number_is_read_in_the_country_of_the_zone() -> None:
    assert Attendee.of(None, "(212) 555-0123", "America/New_York").phone == "+12125550123"
    # The same digits on a São Paulo calendar are a Rio de Janeiro number.
    assert Attendee.of(None, "(212) 555-0123", SAO_PAULO).phone == "+552125550123"
    assert Attendee.of(None, "12345", SAO_PAULO).phone is None


def test_an_email_is_trimmed_and_casefolded() -> None:
    assert Attendee.of(" Maria.Silva@Example.COM ", None, SAO_PAULO).email == (
        "maria.silva@example.com"
    )


def test_hashes_depend_on_the_key_and_the_function_and_never_show_the_value() -> None:
    keyring = Keyring.from_text(generate_key())
    person = Attendee.of("maria@example.com", "+5511987654321", SAO_PAULO)
    mine = person.hashes(keyring, FUNCTION)
    assert mine == Attendee.of("MARIA@example.com ", "(11) 98765-4321", SAO_PAULO).hashes(
        keyring, FUNCTION
    )
    assert mine.email != mine.phone
    assert person.hashes(keyring, OTHER_FUNCTION).phone != mine.phone
    assert person.hashes(Keyring.from_text(generate_key()), FUNCTION).phone != mine.phone
    for value in (mine.email, mine.phone):
        assert value is not None
        assert "maria" not in value
        assert "987654321" not in value


def test_a_lookup_after_a_key_rotation_still_matches_the_old_hashes() -> None:
    old = generate_key()
    person = Attendee.of("maria@example.com", "+5511987654321", SAO_PAULO)
    before = person.hashes(Keyring.from_text(old), FUNCTION)
    rotated = Keyring.from_text(f"{generate_key()},{old}")
    lookup = person.lookup(rotated, FUNCTION)
    assert before.email in lookup.emails
    assert before.phone in lookup.phones
    assert person.hashes(rotated, FUNCTION).phone in lookup.phones  # and the new ones


def _at(hours: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)


async def _record(engine: AsyncEngine, tenant: Tenant, *changes: Change) -> None:
    async with engine.begin() as connection:
        await index.record(connection, uuid.UUID(tenant.institution_id), KIND, FUNCTION, changes)


async def _upcoming(
    engine: AsyncEngine, keyring: Keyring, person: Attendee, function: uuid.UUID = FUNCTION
) -> list[index.Entry]:
    lookup = person.lookup(keyring, function)
    return await index.upcoming(engine, KIND, function, lookup, after=datetime.now(UTC), limit=10)


async def test_entries_follow_bookings_cancels_and_moves(
    engine: AsyncEngine, tenant: Tenant, keyring: Keyring
) -> None:
    person = Attendee.of("maria@example.com", "+5511987654321", SAO_PAULO)
    hashes = person.hashes(keyring, FUNCTION)
    by_phone = Attendee(phone="+5511987654321")
    await _record(
        engine,
        tenant,
        Change.booked("b-later", _at(48), _at(49), hashes),
        Change.booked("b-sooner", _at(24), _at(25), hashes),
        Change.booked("b-past", _at(-3), _at(-2), hashes),
    )
    found = await _upcoming(engine, keyring, by_phone)
    assert [e.booking_id for e in found] == ["b-sooner", "b-later"]
    assert found[0].start == _at(24)
    assert await _upcoming(engine, keyring, by_phone, OTHER_FUNCTION) == []
    assert await _upcoming(engine, keyring, Attendee(phone="+5511900000000")) == []

    # A repeat (a call resumed after a crash) keeps one entry; a cancel hides it; a move
    # that gives the booking a new id (Cal.com) renames it and sets its time.
    await _record(engine, tenant, Change.booked("b-later", _at(48), _at(49), hashes))
    await _record(engine, tenant, Change.cancelled("b-sooner"))
    await _record(engine, tenant, Change.moved("b-later", _at(72), _at(73), new_id="b-moved"))
    found = await _upcoming(engine, keyring, Attendee(email="maria@example.com"))
    assert [(e.booking_id, e.start) for e in found] == [("b-moved", _at(72))]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(BookingEntry.__table__))).all()
    assert sorted((r.provider_booking_id, r.status) for r in rows) == [
        ("b-moved", "booked"),
        ("b-past", "booked"),
        ("b-sooner", "cancelled"),
    ]


async def test_a_change_to_a_booking_it_never_held_is_taken_in_only_with_its_attendee(
    engine: AsyncEngine, tenant: Tenant, keyring: Keyring
) -> None:
    person = Attendee(email="jo@example.com")
    await _record(
        engine,
        tenant,
        Change.cancelled("elsewhere-1"),
        Change.moved("elsewhere-2", _at(24), _at(25)),
        Change.moved("elsewhere-3", _at(30), _at(31), attendee=person.hashes(keyring, FUNCTION)),
    )
    found = await _upcoming(engine, keyring, person)
    assert [e.booking_id for e in found] == ["elsewhere-3"]
    async with engine.connect() as connection:
        count = len((await connection.execute(select(BookingEntry.id))).all())
    assert count == 1
