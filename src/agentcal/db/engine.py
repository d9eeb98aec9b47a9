"""Engine, declarative base and column types shared by every feature's models.

The same models and migrations serve SQLite (the embedded default) and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

import agentcal.db.caches  # noqa: F401 - its session listeners tell the caches of every change
import agentcal.db.sqlite_driver  # noqa: F401 - registers `sqlite+agentcal://`

# Stable constraint names, so Alembic can alter them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite stores no offset, so values are normalised to UTC on the way in and
    re-labelled UTC on the way out; PostgreSQL gets `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampedMixin:
    """`id`, `created_at` and `updated_at`, as every stored object has them."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; secure_delete overwrites freed pages so
    # deleted secrets leave nothing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _threaded_sqlite_on_connect(dbapi_connection: Any, record: Any) -> None:
    _sqlite_on_connect(dbapi_connection, record)
    # aiosqlite waits in its own thread, so SQLite's busy handler may block there and
    # make writers queue instead of failing. (`sqlite+agentcal` waits asynchronously.)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_TIMEOUT * 1000)}")
    cursor.close()


SQLITE_TIMEOUT = 10.0  # seconds a statement waits for another writer


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names (a plain path, or a `file:` URI's path); None for
    another backend or an in-memory database (`:memory:`, `mode=memory`)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    options = parsed.query.get("mode")
    if database.startswith("file:"):  # its path, without the URI's own options
        database, _, inline = database.removeprefix("file:").partition("?")
        if "mode=memory" in inline:
            return None
    if options == "memory" or (isinstance(options, tuple) and "memory" in options):
        return None
    return Path(database)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`, with the SQLite pragmas agentcal relies on.

    `sqlite:///…` means agentcal's own driver (`agentcal.db.sqlite_driver`), which runs
    statements on the event loop's thread; `sqlite+aiosqlite:///…` the threaded one.
    """
    if url.startswith("sqlite:"):
        url = "sqlite+agentcal:" + url.removeprefix("sqlite:")
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_TIMEOUT})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        threaded = engine.dialect.driver == "aiosqlite"
        on_connect = _threaded_sqlite_on_connect if threaded else _sqlite_on_connect
        event.listen(engine.sync_engine, "connect", on_connect)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the request's single commit.
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One session per unit of work: committed once at the end, rolled back on error."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
