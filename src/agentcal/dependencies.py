"""Request-scoped dependencies every feature shares: the database session and the keyring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import session_scope
from agentcal.settings import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


# The dependencies here are `async def` although most never await: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop on every request.
async def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


# scope="function": the session commits when the endpoint returns, *before* the response
# is sent, so a failed commit can never hide behind a 2xx already on the wire.
Session = Annotated[AsyncSession, Depends(_session, scope="function")]

KeyringDep = Annotated[Keyring, Depends(_keyring)]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
