"""`TtlCache`: a TTL cache emptied when this process commits a change to one of its tables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from agentcal.bots.models import Bot
from agentcal.db.caches import TtlCache
from agentcal.db.engine import utcnow
from agentcal.tenancy.models import Unit
from tests.factories import Tenant
from tests.support import notifications_drained

KEY = ("bot", "reception")


@pytest.fixture
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


def _cache(tables: set[str] | None = None, ttl: float = 60.0) -> TtlCache[tuple[str, str], str]:
    """A cache of the `bots` table holding one value."""
    cache: TtlCache[tuple[str, str], str] = TtlCache(tables or {"bots"}, ttl=ttl)
    cache.put(KEY, "cached", cache.generation)
    assert cache.get(KEY) == "cached"
    return cache


def _bot(tenant: Tenant, name: str = "Reception") -> Bot:
    return Bot(
        institution_id=uuid.UUID(tenant.institution_id),
        unit_id=uuid.UUID(tenant.unit_id),
        name=name,
    )


async def _saved_bot(sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant) -> Bot:
    async with sessionmaker() as session, session.begin():
        bot = _bot(tenant)
        session.add(bot)
    return bot


# --------------------------------------------------------------------------- the cache alone


def test_a_value_put_is_got_back_until_discarded() -> None:
    cache: TtlCache[str, int] = TtlCache({"bots"}, ttl=60)
    assert cache.get("a") is None
    cache.put("a", 1, cache.generation)
    cache.put("b", 2, cache.generation)
    assert (cache.get("a"), cache.get("b")) == (1, 2)
    cache.discard("a")
    cache.discard("never there")
    assert (cache.get("a"), cache.get("b")) == (None, 2)


async def test_a_value_expires_after_ttl() -> None:
    cache: TtlCache[str, int] = TtlCache({"bots"}, ttl=0.05)
    cache.put("a", 1, cache.generation)
    assert cache.get("a") == 1
    await asyncio.sleep(0.1)
    assert cache.get("a") is None


def test_ttl_zero_never_stores() -> None:
    cache: TtlCache[str, int] = TtlCache({"bots"}, ttl=0)
    assert cache.enabled is False
    cache.put("a", 1, cache.generation)
    assert cache.get("a") is None


def test_invalidate_empties_it_and_drops_puts_of_the_generation_before() -> None:
    cache = _cache()
    before = cache.generation
    cache.invalidate()
    assert cache.get(KEY) is None
    cache.put(KEY, "read before the invalidation", before)
    assert cache.get(KEY) is None
    cache.put(KEY, "read after", cache.generation)
    assert cache.get(KEY) == "read after"


# --------------------------------------------------------------------------- emptied by commits


async def test_a_commit_adding_a_row_of_a_watched_table_empties_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    await notifications_drained(sessionmaker)  # no earlier commit empties it meanwhile
    cache = _cache()
    async with sessionmaker() as session:
        session.add(_bot(tenant))
        await session.flush()
        assert cache.get(KEY) == "cached"  # not committed yet: others still read the old rows
        await session.commit()
    assert cache.get(KEY) is None


async def test_a_commit_changing_a_row_of_a_watched_table_empties_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    bot = await _saved_bot(sessionmaker, tenant)
    cache = _cache()
    async with sessionmaker() as session:
        row = await session.get(Bot, bot.id)
        assert row is not None
        row.name = "Front desk"
        await session.commit()
    assert cache.get(KEY) is None


async def test_a_commit_deleting_a_row_of_a_watched_table_empties_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    bot = await _saved_bot(sessionmaker, tenant)
    cache = _cache()
    async with sessionmaker() as session:
        row = await session.get(Bot, bot.id)
        await session.delete(row)
        await session.commit()
    assert cache.get(KEY) is None


async def test_a_commit_touching_only_other_tables_keeps_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    await notifications_drained(sessionmaker)
    cache = _cache()
    async with sessionmaker() as session:
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Support"))
        await session.commit()
    async with sessionmaker() as session:
        await session.execute(update(Unit).values(name=Unit.name + " (old)"))
        await session.commit()
    await notifications_drained(sessionmaker)  # on PostgreSQL, what the commits notified too
    assert cache.get(KEY) == "cached"
    # The unit cache of the same commits would have been emptied.
    units = _cache({"units"})
    async with sessionmaker() as session:
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Billing"))
        await session.commit()
    assert units.get(KEY) is None
    assert cache.get(KEY) == "cached"


async def test_a_commit_that_only_reads_keeps_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    await _saved_bot(sessionmaker, tenant)
    await notifications_drained(sessionmaker)  # the set-up's commit empties it no more
    cache = _cache()
    async with sessionmaker() as session:
        assert len((await session.scalars(select(Bot))).all()) == 1
        await session.commit()
    await notifications_drained(sessionmaker)  # on PostgreSQL, what the commit notified too
    assert cache.get(KEY) == "cached"


async def test_a_rolled_back_change_keeps_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    await notifications_drained(sessionmaker)
    cache = _cache()
    async with sessionmaker() as session:
        session.add(_bot(tenant))
        await session.flush()  # sent to the database, then undone
        await session.rollback()
        # A later commit of the same session counts only its own changes.
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Support"))
        await session.commit()
    await notifications_drained(sessionmaker)  # on PostgreSQL, what the commit notified too
    assert cache.get(KEY) == "cached"
    async with sessionmaker() as session:
        assert (await session.scalars(select(Bot))).all() == []


async def test_a_change_after_a_rollback_of_the_same_session_empties_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    cache = _cache()
    async with sessionmaker() as session:
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Support"))
        await session.flush()
        await session.rollback()
        session.add(_bot(tenant))
        await session.commit()
    assert cache.get(KEY) is None


BulkStatement = Callable[[Tenant, uuid.UUID], Executable]


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            lambda tenant, bot_id: update(Bot).where(Bot.id == bot_id).values(name="Renamed"),
            id="update",
        ),
        pytest.param(lambda tenant, bot_id: delete(Bot).where(Bot.id == bot_id), id="delete"),
        pytest.param(
            lambda tenant, bot_id: insert(Bot).values(
                id=uuid.uuid4(),
                institution_id=uuid.UUID(tenant.institution_id),
                unit_id=uuid.UUID(tenant.unit_id),
                name="Inserted",
                created_at=utcnow(),
                updated_at=utcnow(),
            ),
            id="insert",
        ),
    ],
)
async def test_a_committed_bulk_statement_on_a_watched_table_empties_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant, statement: BulkStatement
) -> None:
    bot = await _saved_bot(sessionmaker, tenant)
    await notifications_drained(sessionmaker)  # the set-up's commit empties it no more
    cache = _cache()
    async with sessionmaker() as session:
        result = await session.execute(statement(tenant, bot.id))
        assert result.rowcount == 1  # type: ignore[attr-defined]
        assert cache.get(KEY) == "cached"  # not before the commit
        await session.commit()
    assert cache.get(KEY) is None


async def test_a_rolled_back_bulk_statement_keeps_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    bot = await _saved_bot(sessionmaker, tenant)
    # The set-up's commit (and the test's before) notified `bots`: wait until that has
    # reached this process, or it would empty the cache made now.
    await notifications_drained(sessionmaker)
    cache = _cache()
    async with sessionmaker() as session:
        await session.execute(update(Bot).where(Bot.id == bot.id).values(name="Renamed"))
        await session.rollback()
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Support"))
        await session.commit()
    # On PostgreSQL, the rolled-back statement's notification must never arrive either.
    await notifications_drained(sessionmaker)
    assert cache.get(KEY) == "cached"
    async with sessionmaker() as session:
        assert (await session.scalars(select(Bot.name))).all() == ["Reception"]


# --------------------------------------------------------------------------- the reader's race


async def test_a_value_read_before_a_commit_is_not_kept_after_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    """A reader takes the generation, reads, and is overtaken by a commit before it puts."""
    bot = await _saved_bot(sessionmaker, tenant)
    await notifications_drained(sessionmaker)  # only the writer's commit may drop the put
    cache: TtlCache[uuid.UUID, str] = TtlCache({"bots"}, ttl=60)
    read = asyncio.Event()
    committed = asyncio.Event()

    async def reader() -> None:
        generation = cache.generation
        async with sessionmaker() as session:
            name = (await session.scalars(select(Bot.name).where(Bot.id == bot.id))).one()
        assert name == "Reception"
        read.set()
        await committed.wait()  # a writer commits now
        cache.put(bot.id, name, generation)

    async def writer() -> None:
        await read.wait()
        async with sessionmaker() as session:
            await session.execute(update(Bot).where(Bot.id == bot.id).values(name="Renamed"))
            await session.commit()
        committed.set()

    await asyncio.gather(reader(), writer())
    assert cache.get(bot.id) is None  # the stale "Reception" was dropped
    # A reader that starts after the commit (and, on PostgreSQL, after its notification
    # came back) keeps what it read.
    await notifications_drained(sessionmaker)
    generation = cache.generation
    async with sessionmaker() as session:
        name = (await session.scalars(select(Bot.name).where(Bot.id == bot.id))).one()
    cache.put(bot.id, name, generation)
    assert cache.get(bot.id) == "Renamed"


async def test_a_savepoint_rolled_back_does_not_forget_the_changes_committed_around_it(
    sessionmaker: async_sessionmaker[AsyncSession], tenant: Tenant
) -> None:
    cache = _cache()
    async with sessionmaker() as session:
        session.add(_bot(tenant))
        await session.flush()
        savepoint = await session.begin_nested()
        session.add(Unit(institution_id=uuid.UUID(tenant.institution_id), name="Support"))
        await session.flush()
        await savepoint.rollback()
        await session.commit()
    async with sessionmaker() as session:
        assert len((await session.scalars(select(Bot))).all()) == 1  # the bot was committed
    assert cache.get(KEY) is None
