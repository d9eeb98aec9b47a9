"""The Alembic migrations build exactly the models' schema, and undo it, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db import migrate
from agentcal.db.engine import Base, create_engine


@pytest.fixture
async def blank_engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of the suite's backend, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"agentcal_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(
        make_url(database_url).set(database=name).render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}"'))
        await admin.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_upgrade_builds_every_table_of_the_models(blank_engine: AsyncEngine) -> None:
    await migrate.upgrade(blank_engine)
    async with blank_engine.connect() as conn:
        tables = await conn.run_sync(_tables)
    assert set(Base.metadata.tables) | {"alembic_version"} == tables
    assert await migrate.current_revision(blank_engine) == migrate.head_revision()


async def test_migrated_schema_matches_the_models(blank_engine: AsyncEngine) -> None:
    await migrate.upgrade(blank_engine)
    async with blank_engine.connect() as conn:
        differences = await conn.run_sync(_diff)
    assert differences == []


async def test_downgrade_to_base_removes_everything_and_upgrade_again_works(
    blank_engine: AsyncEngine,
) -> None:
    await migrate.upgrade(blank_engine)
    await migrate.downgrade(blank_engine, "base")
    async with blank_engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await migrate.upgrade(blank_engine)
    assert await migrate.current_revision(blank_engine) == migrate.head_revision()


async def test_upgrade_is_idempotent(blank_engine: AsyncEngine) -> None:
    await migrate.upgrade(blank_engine)
    await migrate.upgrade(blank_engine)
    assert await migrate.current_revision(blank_engine) == migrate.head_revision()


def test_every_migration_file_is_named_after_its_revision() -> None:
    """`agentcal serve` finds the latest revision from the file names (without loading
    Alembic): each `NNNN_title.py` must hold revision `NNNN`, revising the one before."""
    files = sorted(migrate.VERSIONS.glob("[0-9]*_*.py"))
    assert files
    previous = None
    for path in files:
        source = path.read_text()
        prefix = path.name.split("_", 1)[0]
        assert f'revision: str = "{prefix}"' in source, path.name
        assert f"down_revision: str | None = {previous!r}".replace("'", '"') in source, path.name
        previous = prefix
    assert migrate.packaged_head() == migrate.head_revision() == previous


async def test_is_current_tells_a_database_at_the_latest_migration(
    blank_engine: AsyncEngine,
) -> None:
    assert not await migrate.is_current(blank_engine)  # no alembic_version table
    await migrate.upgrade(blank_engine)
    assert await migrate.is_current(blank_engine)
    await migrate.downgrade(blank_engine, "-1")
    assert not await migrate.is_current(blank_engine)
