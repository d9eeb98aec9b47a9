"""Institutions (tenants), their units, users and access tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentcal.db.engine import Base, TimestampedMixin, UTCDateTime

ROLES = ("admin", "member")


class Institution(TimestampedMixin, Base):
    __tablename__ = "institutions"

    name: Mapped[str] = mapped_column(String(120), unique=True)


class Unit(TimestampedMixin, Base):
    """An organizational unit; the seeds call its id `unitId` or `unityId`."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("institution_id", "name"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))


class User(TimestampedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("institution_id", "email"),)

    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))


class AccessToken(TimestampedMixin, Base):
    """A bearer token, stored only as its SHA-256 hash (the token itself is random)."""

    __tablename__ = "access_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in listings so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
