"""Bodies of `/api/v1/functions`, field for field as the Toolzz document has them.

`googleUser` keeps Google's own snake_case keys (`verified_email`, `given_name`), as
the seed does; everything else is camelCase. Optional fields left out of a PUT keep
their stored values; `null` resets one to its default.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from agentcal.crypto.columns import MASK
from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import (
    BLANK_IS_NULL,
    REQUEST_CONFIG,
    RESPONSE_CONFIG,
    Digits,
    Email,
    LongText,
    Name,
    Prompt,
    ShortText,
    StrictBool,
    Timezone,
    storable,
)

FUNCTION_TYPES = ("google-calendar",)
DEFAULT_WORKING_HOURS: list[dict[str, Any]] = [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
]
# Defaults of the scheduling extensions, applied on create and on `null`.
PLUGIN_DEFAULTS: dict[str, Any] = {
    "working_hours": DEFAULT_WORKING_HOURS,
    "slot_minutes": 30,
    "min_notice_minutes": 60,
    "buffer_minutes": 0,
    "horizon_days": 60,
    "check_availability_enabled": True,
    "create_booking_enabled": True,
    "create_meet_link": False,
    "notification_delay_ms": 0,
    "notification_wait_for_speech": 0,
}

_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")


def _hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise ValueError("must be a time of day as HH:MM (00:00 to 24:00)")
    return value


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s\x00]+", value):
        raise ValueError("must be an http(s) URL")
    return value


# OAuth tokens travel in an Authorization header: printable ASCII, no spaces or CR/LF.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def _google_token(value: str) -> str:
    if not value.startswith(("ya29.", "1//")) or not _TOKEN_CHARS.fullmatch(value):
        raise ValueError(
            "must be a Google OAuth 2.0 access token ('ya29.…') or refresh token ('1//…')"
        )
    return value


def _refresh_token(value: str) -> str:
    if not value.startswith("1//") or not _TOKEN_CHARS.fullmatch(value):
        raise ValueError("must be a Google OAuth 2.0 refresh token ('1//…')")
    return value


def _outputs(value: list[JsonValue]) -> list[JsonValue]:
    def walk(item: JsonValue, depth: int) -> None:
        if depth > 8:
            raise ValueError("may nest at most 8 levels")
        if isinstance(item, str):
            storable(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        elif isinstance(item, list):
            for child in item:
                walk(child, depth + 1)
        elif isinstance(item, dict):
            for key, child in item.items():
                storable(key)
                walk(child, depth + 1)

    walk(value, 0)
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_url)
]
_Token = StringConstraints(strip_whitespace=True, min_length=4, max_length=4096)
GoogleToken = Annotated[str, _Token, AfterValidator(_google_token)]
RefreshToken = Annotated[str, _Token, AfterValidator(_refresh_token)]
Outputs = Annotated[list[JsonValue], Field(max_length=50), AfterValidator(_outputs)]
Color = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[#A-Za-z0-9-]+$"
    ),
]


class WorkingHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
        Field(min_length=1, max_length=7),
    ]
    start: HHMM
    end: HHMM

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class _GoogleUserBase(BaseModel):
    """Google's profile object, with its own snake_case keys."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    given_name: Name
    family_name: Name
    picture: Annotated[Url | None, BLANK_IS_NULL] = None
    hd: Annotated[ShortText | None, BLANK_IS_NULL] = None


class GoogleUserCreate(_GoogleUserBase):
    id: Digits
    verified_email: StrictBool


class GoogleUserUpdate(_GoogleUserBase):
    """Toolzz's update example leaves `id` and `verified_email` out: they are kept."""

    id: Digits | None = None
    verified_email: StrictBool | None = None


class _GoogleCalendarBase(BaseModel):
    model_config = REQUEST_CONFIG

    google_id: Digits
    calendar_id: Annotated[ShortText | None, BLANK_IS_NULL] = None
    timezone: Timezone | None = None
    google_refresh_token: RefreshToken | None = None
    notification_type: Literal["webhook", "discord", "telegram"] | None = None
    notification_content_type: Literal["text", "json"] | None = None
    notification_content: Annotated[LongText | None, BLANK_IS_NULL] = None
    notification_delay_ms: Annotated[int, Field(strict=True, ge=0, le=86_400_000)] | None = None
    notification_wait_for_speech: Annotated[int, Field(strict=True, ge=0, le=60_000)] | None = None
    notification_target: Annotated[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
        | None,
        BLANK_IS_NULL,
    ] = None
    working_hours: Annotated[list[WorkingHours], Field(min_length=1, max_length=21)] | None = None
    slot_minutes: Annotated[int, Field(strict=True, ge=5, le=480)] | None = None
    min_notice_minutes: Annotated[int, Field(strict=True, ge=0, le=43_200)] | None = None
    buffer_minutes: Annotated[int, Field(strict=True, ge=0, le=480)] | None = None
    horizon_days: Annotated[int, Field(strict=True, ge=1, le=365)] | None = None
    check_availability_enabled: StrictBool | None = None
    create_booking_enabled: StrictBool | None = None
    create_meet_link: StrictBool | None = None

    @field_validator("notification_target")
    @classmethod
    def _target_storable(cls, value: str | None) -> str | None:
        return None if value is None else storable(value)


class GoogleCalendarCreate(_GoogleCalendarBase):
    google_user: GoogleUserCreate
    google_token: GoogleToken


class GoogleCalendarUpdate(_GoogleCalendarBase):
    google_user: GoogleUserUpdate
    google_token: GoogleToken | None = None


def _function_type(value: str) -> str:
    if value not in FUNCTION_TYPES:
        raise ValueError(
            f"unsupported function type {value!r}; supported types: {', '.join(FUNCTION_TYPES)}"
        )
    return value


FunctionType = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_function_type)
]


class _FunctionBase(BaseModel):
    model_config = REQUEST_CONFIG

    name: Name
    description: Prompt
    icon_file_id: uuid.UUID | None = None
    outputs: Outputs | None = None
    type: FunctionType
    user_id: uuid.UUID
    unity_id: uuid.UUID
    bot_id: uuid.UUID | None = None
    color: Color | None = None
    is_activated: StrictBool | None = None


class FunctionCreate(_FunctionBase):
    """Seed `create-google-calendar-function`, plus `botId`, `color`, `isActivated`."""

    google_calendar: GoogleCalendarCreate


class FunctionUpdate(_FunctionBase):
    """The create body again; tokens and Google ids may be left out to keep them."""

    google_calendar: GoogleCalendarUpdate


class GoogleUserRead(BaseModel):
    """`googleUser` as the seed returns it: without `id` and `verified_email`."""

    name: str
    given_name: str
    family_name: str
    picture: str | None
    email: str
    hd: str | None


class WorkingHoursRead(BaseModel):
    days: list[str]
    start: str
    end: str


class GoogleCalendarPluginRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    google_id: str
    calendar_id: str
    timezone: str
    plugin_id: uuid.UUID
    notification_type: str | None
    notification_content_type: str | None
    notification_content: str | None
    notification_delay_ms: int
    notification_wait_for_speech: int
    created_at: str
    updated_at: str
    google_user: GoogleUserRead
    google_token: str
    # The scheduling extensions.
    google_refresh_token: str | None
    notification_target: str | None
    working_hours: list[WorkingHoursRead]
    slot_minutes: int
    min_notice_minutes: int
    buffer_minutes: int
    horizon_days: int
    check_availability_enabled: bool
    create_booking_enabled: bool
    create_meet_link: bool
    # 'invalid' once Google refused the refresh token (invalid_grant); a new token clears it.
    credential_status: Literal["valid", "invalid"]


class FunctionRead(BaseModel):
    model_config = RESPONSE_CONFIG

    id: uuid.UUID
    institution_id: uuid.UUID
    user_id: uuid.UUID
    unity_id: uuid.UUID
    code: str
    description: str
    icon_file_id: uuid.UUID | None
    status: bool
    name: str
    color: str
    outputs: list[Any]
    is_activated: bool
    type: str
    google_calendar_plugin: list[GoogleCalendarPluginRead]
    discord_plugin: list[Any]
    telegram_plugin: list[Any]
    bot_id: uuid.UUID | None


class FunctionList(BaseModel):
    data: list[FunctionRead]


def plugin_read(plugin: Any) -> GoogleCalendarPluginRead:
    """The `googleCalendarPlugin[0]` object of a stored plugin, secrets masked."""
    user = plugin.google_user
    return GoogleCalendarPluginRead(
        id=plugin.id,
        google_id=plugin.google_id,
        calendar_id=plugin.calendar_id,
        timezone=plugin.timezone,
        plugin_id=plugin.function_id,
        notification_type=plugin.notification_type,
        notification_content_type=plugin.notification_content_type,
        notification_content=plugin.notification_content,
        notification_delay_ms=plugin.notification_delay_ms,
        notification_wait_for_speech=plugin.notification_wait_for_speech,
        created_at=iso_millis(plugin.created_at),
        updated_at=iso_millis(plugin.updated_at),
        google_user=GoogleUserRead(
            name=user["name"],
            given_name=user["given_name"],
            family_name=user["family_name"],
            picture=user.get("picture"),
            email=user["email"],
            hd=user.get("hd"),
        ),
        google_token=MASK,
        google_refresh_token=MASK if plugin.google_refresh_token_ciphertext else None,
        notification_target=MASK if plugin.notification_target_ciphertext else None,
        working_hours=[WorkingHoursRead(**w) for w in plugin.working_hours],
        slot_minutes=plugin.slot_minutes,
        min_notice_minutes=plugin.min_notice_minutes,
        buffer_minutes=plugin.buffer_minutes,
        horizon_days=plugin.horizon_days,
        check_availability_enabled=plugin.check_availability_enabled,
        create_booking_enabled=plugin.create_booking_enabled,
        create_meet_link=plugin.create_meet_link,
        credential_status=plugin.credential_status or "valid",
    )


def function_read(function: Any) -> FunctionRead:
    """The function object of the seed's response (its plugin must be loaded)."""
    plugin = function.google_calendar
    return FunctionRead(
        id=function.id,
        institution_id=function.institution_id,
        user_id=function.user_id,
        unity_id=function.unity_id,
        code=function.code,
        description=function.description,
        icon_file_id=function.icon_file_id,
        status=function.status,
        name=function.name,
        color=function.color,
        outputs=function.outputs,
        is_activated=function.is_activated,
        type=function.type,
        google_calendar_plugin=[plugin_read(plugin)] if plugin is not None else [],
        discord_plugin=[],
        telegram_plugin=[],
        bot_id=function.bot_id,
    )
