"""Request and response bodies of units, users and access tokens."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import REQUEST_CONFIG, RESPONSE_CONFIG, Email, Integer, Name
from agentcal.tenancy.models import AccessToken, Unit, User


class UnitCreate(BaseModel):
    model_config = REQUEST_CONFIG

    name: Name


class UnitRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    institution_id: uuid.UUID
    name: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, unit: Unit) -> UnitRead:
        return cls(
            id=unit.id,
            institution_id=unit.institution_id,
            name=unit.name,
            created_at=iso_millis(unit.created_at),
            updated_at=iso_millis(unit.updated_at),
        )


class UserCreate(BaseModel):
    model_config = REQUEST_CONFIG

    email: Email
    name: Name | None = None
    role: Literal["admin", "member"] = "member"

    @field_validator("email")
    @classmethod
    def _fits_lowercased(cls, value: str) -> str:
        # Stored lowercased, and lowercasing can lengthen ('İ' becomes 'i̇'): it must
        # still fit the 254-character column, or PostgreSQL refuses the insert (a 500).
        if len(value.lower()) > 254:
            raise ValueError("must have at most 254 characters once lowercased")
        return value


class UserRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    institution_id: uuid.UUID
    email: str
    name: str | None
    role: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls(
            id=user.id,
            institution_id=user.institution_id,
            email=user.email,
            name=user.name,
            role=user.role,
            created_at=iso_millis(user.created_at),
            updated_at=iso_millis(user.updated_at),
        )


class TokenCreate(BaseModel):
    model_config = REQUEST_CONFIG

    name: Name = "api"
    expires_in_days: Annotated[int, Integer(1, 3650)] | None = None
    user_id: uuid.UUID | None = Field(
        default=None, description="Admins only: issue the token for another user."
    )


class TokenRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, token: AccessToken) -> TokenRead:
        return cls(
            id=token.id,
            user_id=token.user_id,
            name=token.name,
            prefix=token.prefix,
            created_at=iso_millis(token.created_at),
            expires_at=iso_millis(token.expires_at) if token.expires_at else None,
            revoked_at=iso_millis(token.revoked_at) if token.revoked_at else None,
        )


class TokenIssued(TokenRead):
    token: str = Field(description="The token itself. Shown only in this response.")


class UnitList(BaseModel):
    data: list[UnitRead]


class UserList(BaseModel):
    data: list[UserRead]


class TokenList(BaseModel):
    data: list[TokenRead]
