"""Apply Alembic migrations on an engine's connection (SQLite and PostgreSQL alike).

Alembic is imported only when it is needed: `agentcal serve` checks the schema on every
start, and at the latest migration (the common case) a plain query answers that.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentcal.db.engine import sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

VERSIONS = Path(__file__).parents[1] / "migrations" / "versions"

# PostgreSQL's SQLSTATE for connecting to a database that does not exist.
_INVALID_CATALOG_NAME = "3D000"


class DatabaseNotFound(Exception):
    """The URL names a database that is not there: a SQLite file that does not exist, or
    a PostgreSQL database the server does not have."""

    def __init__(self, url: URL) -> None:
        super().__init__(f"no database at {url.render_as_string(hide_password=True)}")
        self.url = url


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    try:
        return await engine.connect()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _INVALID_CATALOG_NAME:
            raise DatabaseNotFound(engine.url) from exc
        raise


async def _recorded(engine: AsyncEngine) -> list[str]:
    conn = await _connect(engine)
    try:
        rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:  # no table yet: no migration ever ran here
        return []
    finally:
        await conn.close()
    return [row[0] for row in rows]


async def existing_revisions(engine: AsyncEngine) -> list[str]:
    """The revisions an existing database records, without loading Alembic; empty when
    no migration ever ran on it (it holds no agentcal schema).

    It never creates the database, as connecting to a missing SQLite file would: a missing
    file or PostgreSQL database raises `DatabaseNotFound`.
    """
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        raise DatabaseNotFound(engine.url)
    return await _recorded(engine)


def packaged_head() -> str:
    """The newest migration's revision, from the file names: `NNNN_title.py` holds
    revision `NNNN` (a test checks that every file keeps to it)."""
    return max(path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9]*_*.py"))


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the latest migration, without loading Alembic.

    A SQLite file is created if missing; a missing PostgreSQL database raises
    `DatabaseNotFound` (only its server's administrator can create it)."""
    return await _recorded(engine) == [packaged_head()]


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "agentcal:migrations")
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
