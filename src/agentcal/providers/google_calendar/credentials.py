"""A function's Google access token, refreshed ahead of expiry, once at a time.

`FunctionAuth` is the `httpx.Auth` every request of a function goes out with: it adds
the function's access token, refreshed when due, and after a 401 refreshes once and
sends the request again (a 401 means Google did nothing with it).

`access_token_for` returns a token that is good for a while yet. When it must refresh:

1. it waits for the function's in-process lock (`GoogleCalendarClient.refresh_locks`),
   so 20 concurrent tool calls of one function send one refresh, not 20;
2. it opens its own transaction and, on PostgreSQL, locks the plugin row (`SELECT …
   FOR UPDATE`), so replicas queue too. SQLite, the embedded default, runs in one
   process, where step 1 is the whole story: it takes no lock there, because SQLite's
   only lock is the whole database's, and holding it through an HTTP call would stall
   every writer;
3. it re-reads the row: if another process refreshed meanwhile, that token is used;
4. otherwise it refreshes, stores the new token sealed with its expiry, and commits,
   which releases the lock for the waiters, who then find the new token in step 3.

Whatever the database, the token (or `invalid`) is written only if the refresh token
it came from is still the stored one: an integrator's PUT with a new token, landing
meanwhile, wins.

The refresh runs in a transaction of its own, not the caller's, for two reasons: the
new token must be committed before the lock is released, whatever becomes of the
caller's unit of work; and `invalid_grant` must be recorded even though the call fails.
So call it before the caller's transaction writes anything: on SQLite a caller holding
the write lock would wait for itself until the busy timeout.

A refresh changes no field an integrator set, so it leaves the plugin's `updatedAt`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import cast

import httpx
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import utcnow
from agentcal.errors import NotFound
from agentcal.providers.google_calendar.client import GoogleCalendarClient, forget_attempt
from agentcal.providers.google_calendar.errors import (
    GoogleCredentialsExpired,
    GoogleInvalidGrant,
)
from agentcal.providers.google_calendar.models import (
    CREDENTIALS_INVALID,
    GOOGLE_REFRESH_TOKEN,
    GOOGLE_TOKEN,
    GoogleCalendarPlugin,
)
from agentcal.scheduling.speech import say, translatable

# google-auth refreshes 3 min 45 s ahead; 5 min leaves room for a slow tool call.
REFRESH_AHEAD = timedelta(minutes=5)
_TABLE = cast(Table, GoogleCalendarPlugin.__table__)
_SYNCED = (
    "google_token_ciphertext",
    "google_token_key_id",
    "google_refresh_token_ciphertext",
    "google_refresh_token_key_id",
    "access_token_expires_at",
    "credential_status",
)
_NEW_TOKEN_HINT = translatable("supply a new googleToken with PUT /api/v1/functions/{{id}}")

Sessionmaker = async_sessionmaker[AsyncSession]


def _expiring(expires_at: datetime | None) -> bool:
    """Due for a refresh. An unknown expiry (a token the integrator pasted) is trusted
    until Google refuses it; then the caller passes it back as `refused`."""
    return expires_at is not None and expires_at - REFRESH_AHEAD <= utcnow()


def _usable(token: str | None, expires_at: datetime | None, refused: str | None) -> bool:
    return token is not None and token != refused and not _expiring(expires_at)


def _invalid_error() -> GoogleCredentialsExpired:
    return GoogleCredentialsExpired(
        say(
            "the Google authorization of this function was revoked or has expired "
            "(credentialStatus 'invalid'); {hint}",
            hint=say(_NEW_TOKEN_HINT),
        )
    )


async def access_token_for(
    sessionmaker: Sessionmaker,
    keyring: Keyring,
    client: GoogleCalendarClient,
    plugin: GoogleCalendarPlugin,
    *,
    refused: str | None = None,
) -> str:
    """An access token for the function of `plugin`, refreshed first if it is due.

    `refused` is a token Google just answered 401 to: it is refreshed even if its
    expiry says otherwise (unless someone already replaced it). Raises
    `GoogleCredentialsExpired` (code `calendar_auth_expired`) when only a new token
    from the integrator can help, and marks the credentials invalid then.
    """
    if plugin.credential_status == CREDENTIALS_INVALID:
        raise _invalid_error()
    token = GOOGLE_TOKEN.open(keyring, plugin)
    if _usable(token, plugin.access_token_expires_at, refused):
        assert token is not None
        return token
    async with client.refresh_locks.hold(plugin.id):
        return await _refresh_under_lock(sessionmaker, keyring, client, plugin, refused)


class FunctionAuth(httpx.Auth):
    """Signs a function's requests with its access token, refreshed when due or refused.

    One per tool call: it remembers the token it fetched, so the call's requests share
    it. Fetch it with `token()` before the first request: a refresh then happens outside
    any request's time-out (and outside the calendar lock, which holds a pooled
    connection on PostgreSQL while a refresh needs one of its own). Only after a 401,
    which is rare, does a refresh run inside a request.

    A refresh is never cut short by its caller's cancellation (a request's time-out,
    a client hanging up): it runs on to its commit, so a refresh token Google rotated
    is stored, and the caller's next attempt finds the new token.
    """

    def __init__(
        self,
        sessionmaker: Sessionmaker,
        keyring: Keyring,
        client: GoogleCalendarClient,
        plugin: GoogleCalendarPlugin,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keyring = keyring
        self._client = client
        self._plugin = plugin
        self._token: str | None = None

    async def token(self, *, refused: str | None = None) -> str:
        """The token to send; `refused` is one Google just answered 401 to."""
        if self._token is None or refused is not None:
            fetch = asyncio.ensure_future(
                access_token_for(
                    self._sessionmaker,
                    self._keyring,
                    self._client,
                    self._plugin,
                    refused=refused,
                )
            )
            fetch.add_done_callback(_settled)
            self._token = await asyncio.shield(fetch)
        return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.token(refused=token)
            request.headers["Authorization"] = f"Bearer {token}"
            forget_attempt(request)
            yield request


def _settled(fetch: asyncio.Future[str]) -> None:
    """Retrieve the outcome of a fetch whose caller gave up: its failure is that caller's,
    already answered (a time-out), and must not be reported again as unretrieved."""
    if not fetch.cancelled():
        fetch.exception()


async def _lock_row(session: AsyncSession, plugin_id: uuid.UUID) -> GoogleCalendarPlugin | None:
    """The plugin row, locked against other refreshers until this transaction ends."""
    query = select(GoogleCalendarPlugin).where(GoogleCalendarPlugin.id == plugin_id)
    if session.get_bind().dialect.name != "sqlite":  # see the module docstring
        query = query.with_for_update()
    row: GoogleCalendarPlugin | None = await session.scalar(
        query.execution_options(populate_existing=True)
    )
    return row


async def _save(session: AsyncSession, row: GoogleCalendarPlugin, **values: object) -> bool:
    """Write `values` if the row still holds the refresh token this refresh used.

    False when an integrator replaced the credentials meanwhile: theirs win. Core, with
    `updated_at` set to itself: the ORM's onupdate would move `updatedAt`.
    """
    used = row.google_refresh_token_ciphertext
    same_refresh = (
        _TABLE.c.google_refresh_token_ciphertext.is_(None)
        if used is None
        else _TABLE.c.google_refresh_token_ciphertext == used
    )
    result = await session.execute(
        _TABLE.update()
        .where(_TABLE.c.id == row.id, same_refresh)
        .values(updated_at=_TABLE.c.updated_at, **values)
    )
    return bool(getattr(result, "rowcount", 0))


def _snapshot(row: GoogleCalendarPlugin, **changes: object) -> dict[str, object]:
    """The credential columns of `row` with `changes`, read before a commit can expire them."""
    return {name: changes[name] if name in changes else getattr(row, name) for name in _SYNCED}


def _sync(plugin: GoogleCalendarPlugin, values: dict[str, object]) -> None:
    """Show the caller's (possibly stale) plugin object what the database holds, without
    marking it changed, so its session writes nothing back and its next call is fast."""
    for name, value in values.items():
        set_committed_value(plugin, name, value)


async def _refresh_under_lock(
    sessionmaker: Sessionmaker,
    keyring: Keyring,
    client: GoogleCalendarClient,
    plugin: GoogleCalendarPlugin,
    refused: str | None,
) -> str:
    async with sessionmaker() as session:
        row = await _lock_row(session, plugin.id)
        if row is None:
            raise NotFound("function", plugin.function_id)
        if row.credential_status == CREDENTIALS_INVALID:
            _sync(plugin, _snapshot(row))
            raise _invalid_error()
        token = GOOGLE_TOKEN.open(keyring, row)
        if _usable(token, row.access_token_expires_at, refused):
            _sync(plugin, _snapshot(row))  # another caller (or process) refreshed it meanwhile
            assert token is not None
            return token
        refresh = GOOGLE_REFRESH_TOKEN.open(keyring, row)
        if refresh is None:
            if token is not None and token != refused:
                return token  # cannot renew it; Google will say when it stops working
            await _mark_invalid(session, row, plugin)
            raise GoogleCredentialsExpired(
                say(
                    "Google refused the function's access token and there is no refresh "
                    "token to renew it; {hint} (with a googleRefreshToken to avoid this)",
                    hint=say(_NEW_TOKEN_HINT),
                )
            )

        started = utcnow()
        try:
            grant = await client.refresh_access_token(refresh)
        except GoogleInvalidGrant:
            await _mark_invalid(session, row, plugin)
            raise
        # Other failures: leaving the block rolls back and releases the lock.

        sealed = keyring.seal(grant.access_token, GOOGLE_TOKEN.aad(row.id))
        values: dict[str, object] = {
            "google_token_ciphertext": sealed.blob,
            "google_token_key_id": sealed.key_id,
            "access_token_expires_at": started + timedelta(seconds=grant.expires_in),
        }
        if grant.refresh_token:  # Google rotated it; the old one may stop working
            rotated = keyring.seal(grant.refresh_token, GOOGLE_REFRESH_TOKEN.aad(row.id))
            values["google_refresh_token_ciphertext"] = rotated.blob
            values["google_refresh_token_key_id"] = rotated.key_id
        synced = _snapshot(row, **values)
        if await _save(session, row, **values):
            await session.commit()
            _sync(plugin, synced)
        # Otherwise new credentials arrived meanwhile: this token is still good for this
        # call, but the stored ones are the integrator's.
        return grant.access_token


async def _mark_invalid(
    session: AsyncSession, row: GoogleCalendarPlugin, plugin: GoogleCalendarPlugin
) -> None:
    """Record, committed, that only a new token from the integrator can help."""
    synced = _snapshot(row, credential_status=CREDENTIALS_INVALID)
    if await _save(session, row, credential_status=CREDENTIALS_INVALID):
        await session.commit()
        _sync(plugin, synced)
