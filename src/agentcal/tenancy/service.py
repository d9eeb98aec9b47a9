"""Tenancy operations shared by the API and the CLI. They never commit: the caller does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from agentcal.db.engine import utcnow
from agentcal.errors import Conflict, NotFound
from agentcal.tenancy.models import AccessToken, Institution, Unit, User
from agentcal.tenancy.tokens import display_prefix, hash_token, new_token


@dataclass(frozen=True, slots=True)
class IssuedToken:
    record: AccessToken
    token: str  # the only time the clear token exists


class _Owned(Protocol):
    @property
    def institution_id(self) -> uuid.UUID: ...


M = TypeVar("M", bound=_Owned)


async def get_owned(
    session: AsyncSession,
    model: type[M],
    ident: uuid.UUID,
    institution_id: uuid.UUID,
    what: str,
    options: Sequence[ORMOption] = (),
    for_update: bool = False,
) -> M:
    """The `model` row `ident` if it belongs to `institution_id`.

    Another institution's row answers exactly like a missing one (404), so ids reveal
    nothing across tenants. `for_update` locks the row (PostgreSQL; SQLite serialises
    writers anyway) so that writers of one object queue instead of deadlocking.
    """
    lock = {"of": model} if for_update else None
    row = await session.get(model, ident, options=options, with_for_update=lock)
    if row is None or row.institution_id != institution_id:
        raise NotFound(what, ident)
    return row


async def get_unit(session: AsyncSession, institution_id: uuid.UUID, unit_id: uuid.UUID) -> Unit:
    return await get_owned(session, Unit, unit_id, institution_id, "unit")


async def get_user(session: AsyncSession, institution_id: uuid.UUID, user_id: uuid.UUID) -> User:
    return await get_owned(session, User, user_id, institution_id, "user")


async def list_units(session: AsyncSession, institution_id: uuid.UUID) -> list[Unit]:
    rows = await session.scalars(
        select(Unit).where(Unit.institution_id == institution_id).order_by(Unit.created_at)
    )
    return list(rows)


async def list_users(session: AsyncSession, institution_id: uuid.UUID) -> list[User]:
    rows = await session.scalars(
        select(User).where(User.institution_id == institution_id).order_by(User.created_at)
    )
    return list(rows)


async def create_unit(session: AsyncSession, institution_id: uuid.UUID, name: str) -> Unit:
    existing = await session.scalar(
        select(Unit).where(Unit.institution_id == institution_id, Unit.name == name)
    )
    if existing is not None:
        raise Conflict(f"a unit named {name!r} already exists (id {existing.id})")
    unit = Unit(id=uuid.uuid4(), institution_id=institution_id, name=name)
    session.add(unit)
    await session.flush()
    return unit


async def create_user(
    session: AsyncSession, institution_id: uuid.UUID, email: str, name: str | None, role: str
) -> User:
    email = email.lower()
    existing = await session.scalar(
        select(User).where(User.institution_id == institution_id, User.email == email)
    )
    if existing is not None:
        raise Conflict(f"a user with e-mail {email!r} already exists (id {existing.id})")
    user = User(id=uuid.uuid4(), institution_id=institution_id, email=email, name=name, role=role)
    session.add(user)
    await session.flush()
    return user


async def issue_token(
    session: AsyncSession, user: User, name: str, expires_in: timedelta | None
) -> IssuedToken:
    token = new_token()
    record = AccessToken(
        id=uuid.uuid4(),
        user_id=user.id,
        institution_id=user.institution_id,
        name=name,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(record)
    await session.flush()
    return IssuedToken(record, token)


async def list_tokens(
    session: AsyncSession, institution_id: uuid.UUID | None, user_id: uuid.UUID | None = None
) -> list[AccessToken]:
    query = select(AccessToken).order_by(AccessToken.created_at)
    if institution_id is not None:
        query = query.where(AccessToken.institution_id == institution_id)
    if user_id is not None:
        query = query.where(AccessToken.user_id == user_id)
    return list(await session.scalars(query))


async def revoke_token(session: AsyncSession, token: AccessToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()


async def find_token_by_hash(
    session: AsyncSession, token_hash: str
) -> tuple[AccessToken, str] | None:
    """The record of the token with this hash, with its user's role, in one query."""
    row = (
        await session.execute(
            select(AccessToken, User.role)
            .join(User, User.id == AccessToken.user_id)
            .where(AccessToken.token_hash == token_hash)
        )
    ).first()
    return None if row is None else (row[0], row[1])


def token_state(token: AccessToken, now: datetime) -> str:
    """`active`, `revoked` or `expired`."""
    return state_at(token.revoked_at, token.expires_at, now)


def state_at(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """A token's state from its revocation and expiry: `active`, `revoked` or `expired`."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    institution: Institution
    unit: Unit
    user: User
    token: IssuedToken


async def bootstrap(
    session: AsyncSession, institution_name: str, unit_name: str, email: str
) -> Bootstrapped:
    """Create (or reuse, by name) an institution, unit and admin user, and a new token.

    Idempotent per institution name: a second run reuses what exists and only adds a
    token, so operators can re-run it to get a fresh credential.
    """
    institution = await session.scalar(
        select(Institution).where(Institution.name == institution_name)
    )
    if institution is None:
        institution = Institution(id=uuid.uuid4(), name=institution_name)
        session.add(institution)
        await session.flush()
    unit = await session.scalar(
        select(Unit).where(Unit.institution_id == institution.id, Unit.name == unit_name)
    )
    if unit is None:
        unit = Unit(id=uuid.uuid4(), institution_id=institution.id, name=unit_name)
        session.add(unit)
    email = email.lower()
    user = await session.scalar(
        select(User).where(User.institution_id == institution.id, User.email == email)
    )
    if user is None:
        user = User(id=uuid.uuid4(), institution_id=institution.id, email=email, role="admin")
        session.add(user)
    else:
        user.role = "admin"  # the command promises an admin token; the operator owns the DB
    await session.flush()  # the token's foreign keys need the rows first
    token = await issue_token(session, user, "bootstrap", None)
    return Bootstrapped(institution, unit, user, token)
