"""Bodies of `/api/v1/calcom/integration`, field for field as the Toolzz document has them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, field_validator

from agentcal.kit.timestamps import micros, millis
from agentcal.kit.validation import (
    REQUEST_CONFIG,
    RESPONSE_CONFIG,
    Name,
    PositiveInt32,
    Prompt,
    Secret,
    Slug,
    StrictBool,
    Timezone,
    Username,
)
from agentcal.providers.calcom.models import CalcomIntegration


class IntegrationCreate(BaseModel):
    """Seed `create-calcom-function`, plus the optional scheduling extensions."""

    model_config = REQUEST_CONFIG

    title: Name
    unit_id: uuid.UUID
    api_key: Secret
    calcom_username: Username
    timezone: Timezone
    prompt: Prompt
    check_availability_enabled: StrictBool
    create_booking_enabled: StrictBool
    bot_id: uuid.UUID | None = None
    default_event_type_id: PositiveInt32 | None = None
    default_event_type_slug: Slug | None = None


def _never_null(schema: dict[str, Any]) -> None:
    """Optional but never null (see `_not_null`): the document offers no null either."""
    (kept,) = [option for option in schema.pop("anyOf") if option.get("type") != "null"]
    schema.update(kept)
    schema.pop("default", None)


class IntegrationUpdate(BaseModel):
    """The Toolzz update body; omitted optional fields keep their stored values."""

    model_config = REQUEST_CONFIG

    title: Name
    unit_id: uuid.UUID
    calcom_username: Username
    timezone: Timezone
    prompt: Prompt
    check_availability_enabled: StrictBool
    create_booking_enabled: StrictBool
    api_key: Secret | None = Field(default=None, json_schema_extra=_never_null)
    bot_id: uuid.UUID | None = None
    is_active: StrictBool | None = Field(default=None, json_schema_extra=_never_null)
    default_event_type_id: PositiveInt32 | None = None
    default_event_type_slug: Slug | None = None

    @field_validator("api_key", "is_active")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators run only for values sent: omitting keeps, null is a mistake.
        if value is None:
            raise ValueError("must not be null; omit it to keep the stored value")
        return value


class IntegrationRead(BaseModel):
    """The integration object of the seed's response, with `apiKey` masked."""

    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    bot_id: uuid.UUID | None
    unit_id: uuid.UUID
    title: str
    calcom_username: str
    api_key: str
    is_active: bool
    is_token_masked: bool
    timezone: str
    prompt: str
    check_availability_enabled: bool
    create_booking_enabled: bool
    default_event_type_id: int | None
    default_event_type_slug: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: CalcomIntegration) -> IntegrationRead:
        return cls(
            id=row.id,
            bot_id=row.bot_id,
            unit_id=row.unit_id,
            title=row.title,
            calcom_username=row.calcom_username,
            api_key=row.api_key_mask,
            is_active=row.is_active,
            is_token_masked=True,
            timezone=row.timezone,
            prompt=row.prompt,
            check_availability_enabled=row.check_availability_enabled,
            create_booking_enabled=row.create_booking_enabled,
            default_event_type_id=row.default_event_type_id,
            default_event_type_slug=row.default_event_type_slug,
            created_at=micros(row.created_at),
            updated_at=millis(row.updated_at),
        )


class IntegrationList(BaseModel):
    data: list[IntegrationRead]


class EventTypeRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: int
    slug: str
    title: str
    length_in_minutes: int


class EventTypeList(BaseModel):
    data: list[EventTypeRead]
