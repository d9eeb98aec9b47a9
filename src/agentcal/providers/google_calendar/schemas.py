"""Bodies of `/api/v1/functions`, field for field as the Toolzz document has them.

`googleUser` keeps Google's own snake_case keys (`verified_email`, `given_name`), as
the seed does; everything else is camelCase. Optional fields left out of a PUT keep
their stored values; `null` resets one to its default.
"""

from __future__ import annotations

import json
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
    field_validator,
    model_validator,
)

from agentcal.crypto.columns import MASK
from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import (
    BLANK_IS_NULL,
    REQUEST_CONFIG,
    RESPONSE_CONFIG,
    VISIBLE,
    Digits,
    Email,
    Integer,
    LongText,
    Name,
    Pattern,
    Prompt,
    ShortText,
    StrictBool,
    Timezone,
    Trimmed,
    documented_pattern,
    storable,
)
from agentcal.notifications.targets import NOTIFICATION_TYPES, TARGET_PATTERNS

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
    "busy_calendar_ids": [],
}
MAX_BUSY_CALENDARS = 10

_HHMM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00"
# OAuth tokens travel in an Authorization header: printable ASCII, no spaces or CR/LF.
_ACCESS_OR_REFRESH = r"ya29\.[\x21-\x7e]*|1//[\x21-\x7e]+"
_REFRESH = r"1//[\x21-\x7e]+"


# The seed gives `outputs` no shape; it is stored and returned as sent, within bounds.
MAX_OUTPUTS_BYTES = 64 * 1024


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
    if len(json.dumps(value, separators=(",", ":"))) > MAX_OUTPUTS_BYTES:
        raise ValueError(f"may hold at most {MAX_OUTPUTS_BYTES} bytes of JSON")
    return value


HHMM = Annotated[
    str, Pattern(_HHMM, "must be a time of day as HH:MM (00:00 to 24:00)", trimmed=False)
]
Url = Annotated[str, Trimmed(2048), Pattern(rf"https?://{VISIBLE}+", "must be an http(s) URL")]
GoogleToken = Annotated[
    str,
    Trimmed(4096, min_length=4),
    Pattern(
        _ACCESS_OR_REFRESH,
        "must be a Google OAuth 2.0 access token ('ya29.…') or refresh token ('1//…')",
    ),
]
RefreshToken = Annotated[
    str,
    Trimmed(4096, min_length=4),
    Pattern(_REFRESH, "must be a Google OAuth 2.0 refresh token ('1//…')"),
]
Outputs = Annotated[
    list[JsonValue],
    Field(
        max_length=50,
        description=f"At most 50 JSON values, nested at most 8 levels, "
        f"{MAX_OUTPUTS_BYTES} bytes of JSON in all.",
    ),
    AfterValidator(_outputs),
]


def _distinct_calendars(value: list[str]) -> list[str]:
    # Google's calendar ids are e-mail addresses and group addresses: case does not
    # tell two of them apart.
    seen: set[str] = set()
    for calendar_id in value:
        if calendar_id.casefold() in seen:
            raise ValueError(f"lists {calendar_id!r} twice; give each calendar once")
        seen.add(calendar_id.casefold())
    return value


# Other calendars of the account whose busy times also block the function's slots.
BusyCalendarIds = Annotated[
    list[ShortText],
    Field(
        max_length=MAX_BUSY_CALENDARS,
        json_schema_extra={"uniqueItems": True},
        description=f"At most {MAX_BUSY_CALENDARS} distinct calendar ids of the account, "
        "other than the function's own calendarId.",
    ),
    AfterValidator(_distinct_calendars),
]
Color = Annotated[
    str, Trimmed(32), Pattern(r"[#A-Za-z0-9-]+", "may hold only letters, digits, '#' and '-'")
]


class WorkingHours(BaseModel):
    """Days, each once, and hours on them: `start` before `end` (24:00 ends the day)."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
        Field(min_length=1, max_length=7, json_schema_extra={"uniqueItems": True}),
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


def _notification_rules(schema: dict[str, Any]) -> None:
    """What the service checks across fields, stated in the document: a notification
    type needs a target of its form. (On update a target may be left out to keep the
    stored one; the document cannot know that one is stored, so it asks for it.)"""
    schema["allOf"] = [
        {
            "if": {
                "required": ["notificationType"],
                "properties": {"notificationType": {"const": kind}},
            },
            "then": {
                "required": ["notificationTarget"],
                "properties": {
                    "notificationTarget": {
                        "type": "string",
                        "pattern": documented_pattern(TARGET_PATTERNS[kind]),
                    }
                },
            },
        }
        for kind in NOTIFICATION_TYPES
    ]


class _GoogleCalendarBase(BaseModel):
    model_config = ConfigDict(**REQUEST_CONFIG, json_schema_extra=_notification_rules)

    google_id: Digits
    calendar_id: Annotated[ShortText | None, BLANK_IS_NULL] = None
    timezone: Timezone | None = None
    google_refresh_token: RefreshToken | None = None
    notification_type: Literal["webhook", "discord", "telegram"] | None = None
    notification_content_type: Literal["text", "json"] | None = None
    notification_content: Annotated[LongText | None, BLANK_IS_NULL] = None
    notification_delay_ms: Annotated[int, Integer(0, 86_400_000)] | None = None
    notification_wait_for_speech: Annotated[int, Integer(0, 60_000)] | None = None
    notification_target: Annotated[Annotated[str, Trimmed(2048)] | None, BLANK_IS_NULL] = None
    working_hours: Annotated[list[WorkingHours], Field(min_length=1, max_length=21)] | None = None
    slot_minutes: Annotated[int, Integer(5, 480)] | None = None
    min_notice_minutes: Annotated[int, Integer(0, 43_200)] | None = None
    buffer_minutes: Annotated[int, Integer(0, 480)] | None = None
    horizon_days: Annotated[int, Integer(1, 365)] | None = None
    check_availability_enabled: StrictBool | None = None
    create_booking_enabled: StrictBool | None = None
    create_meet_link: StrictBool | None = None
    busy_calendar_ids: BusyCalendarIds | None = None

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


FunctionType = Annotated[
    str,
    Trimmed(64),
    Pattern(
        "|".join(map(re.escape, FUNCTION_TYPES)),
        f"unsupported function type; supported types: {', '.join(FUNCTION_TYPES)}",
    ),
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
    # The webhook signing secret: in clear only in the answer that made it, else masked.
    notification_secret: str | None
    working_hours: list[WorkingHoursRead]
    slot_minutes: int
    min_notice_minutes: int
    buffer_minutes: int
    horizon_days: int
    check_availability_enabled: bool
    create_booking_enabled: bool
    create_meet_link: bool
    busy_calendar_ids: list[str]
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


def plugin_read(plugin: Any, fresh_secret: str | None = None) -> GoogleCalendarPluginRead:
    """The `googleCalendarPlugin[0]` object of a stored plugin, secrets masked (but
    `fresh_secret`, the signing secret the request made)."""
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
        notification_secret=fresh_secret
        or ("whsec_" + MASK if plugin.notification_secret_ciphertext else None),
        working_hours=[WorkingHoursRead(**w) for w in plugin.working_hours],
        slot_minutes=plugin.slot_minutes,
        min_notice_minutes=plugin.min_notice_minutes,
        buffer_minutes=plugin.buffer_minutes,
        horizon_days=plugin.horizon_days,
        check_availability_enabled=plugin.check_availability_enabled,
        create_booking_enabled=plugin.create_booking_enabled,
        create_meet_link=plugin.create_meet_link,
        busy_calendar_ids=list(plugin.busy_calendar_ids),
        credential_status=plugin.credential_status or "valid",
    )


def function_read(function: Any, fresh_secret: str | None = None) -> FunctionRead:
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
        google_calendar_plugin=[plugin_read(plugin, fresh_secret)] if plugin is not None else [],
        discord_plugin=[],
        telegram_plugin=[],
        bot_id=function.bot_id,
    )
