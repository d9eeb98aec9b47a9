"""Google Calendar functions: create, read, list, update, duplicate, delete."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import flag_modified

from agentcal.bots.service import check_bot_in_unit
from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import utcnow
from agentcal.errors import InvalidInput, NotFound
from agentcal.kit.pagination import Page
from agentcal.notifications import addresses, templates
from agentcal.notifications.targets import target_problem
from agentcal.providers.google_calendar.models import (
    CREDENTIALS_VALID,
    GOOGLE_REFRESH_TOKEN,
    GOOGLE_TOKEN,
    NOTIFICATION_SECRET,
    NOTIFICATION_TARGET,
    Function,
    GoogleCalendarPlugin,
)
from agentcal.providers.google_calendar.notifications import new_secret
from agentcal.providers.google_calendar.schemas import (
    PLUGIN_DEFAULTS,
    FunctionCreate,
    FunctionUpdate,
    GoogleCalendarCreate,
    GoogleCalendarUpdate,
)
from agentcal.tenancy.service import get_owned, get_unit, get_user

# Plugin settings copied as they are; `None` (or absent on create) means the default.
_PLAIN_FIELDS = (
    "notification_type",
    "notification_content_type",
    "notification_content",
    *PLUGIN_DEFAULTS,
)
_FIELD_PREFIX = "googleCalendar"


def _with_plugin() -> Any:
    # One statement (a join), so a concurrent DELETE cannot split function from plugin.
    return joinedload(Function.google_calendar)


def _plugin_of(function: Function) -> GoogleCalendarPlugin:
    """A function's plugin; missing only if a concurrent DELETE won the race (404)."""
    if function.google_calendar is None:
        raise NotFound("function", function.id)
    return function.google_calendar


async def get_function(
    session: AsyncSession,
    institution_id: uuid.UUID,
    function_id: uuid.UUID,
    for_update: bool = False,
) -> Function:
    """A function with its plugin; `for_update` locks the function row first.

    Every writer takes that lock before touching the plugin, so an update (function,
    then plugin) and a delete (plugin, then function) cannot deadlock each other.
    """
    return await get_owned(
        session, Function, function_id, institution_id, "function", [_with_plugin()], for_update
    )


async def list_functions(
    session: AsyncSession,
    institution_id: uuid.UUID,
    unity_id: uuid.UUID | None,
    function_type: str | None,
    page: Page,
) -> list[Function]:
    query = (
        select(Function).options(_with_plugin()).where(Function.institution_id == institution_id)
    )
    if unity_id is not None:
        await get_unit(session, institution_id, unity_id)
        query = query.where(Function.unity_id == unity_id)
    if function_type is not None:
        query = query.where(Function.type == function_type)
    query = query.order_by(Function.created_at.desc(), Function.id)
    return list(await session.scalars(query.offset(page.offset).limit(page.fetch)))


async def _check_references(
    session: AsyncSession,
    institution_id: uuid.UUID,
    body: FunctionCreate | FunctionUpdate,
    bot_id: uuid.UUID | None,
) -> None:
    await get_unit(session, institution_id, body.unity_id)
    await get_user(session, institution_id, body.user_id)
    await check_bot_in_unit(session, institution_id, bot_id, body.unity_id)


def _set_token(
    keyring: Keyring, plugin: GoogleCalendarPlugin, token: str, refresh: str | None, sent: set[str]
) -> None:
    """Store `googleToken`: an access token, or a refresh token standing alone."""
    if token.startswith("1//"):
        if refresh is not None:
            raise InvalidInput(
                f"{_FIELD_PREFIX}.googleRefreshToken",
                "googleToken is already a refresh token; send it once",
            )
        GOOGLE_TOKEN.seal(keyring, plugin, None)
        GOOGLE_REFRESH_TOKEN.seal(keyring, plugin, token)
        return
    GOOGLE_TOKEN.seal(keyring, plugin, token)
    if "google_refresh_token" in sent:
        GOOGLE_REFRESH_TOKEN.seal(keyring, plugin, refresh)


def _apply_plugin(
    session: AsyncSession,
    keyring: Keyring,
    plugin: GoogleCalendarPlugin,
    gc: GoogleCalendarCreate | GoogleCalendarUpdate,
    creating: bool,
    allow_private: bool,
) -> None:
    sent = set(gc.model_fields_set)
    plugin.google_id = gc.google_id

    user = gc.google_user.model_dump(exclude_none=True)
    if not creating:  # Toolzz's update leaves out the Google id and verification flag
        stored = plugin.google_user
        for kept in ("id", "verified_email"):
            user.setdefault(kept, stored.get(kept))
    plugin.google_user = user

    if creating or "calendar_id" in sent:
        plugin.calendar_id = gc.calendar_id or user["email"]
    if creating or "timezone" in sent:
        plugin.timezone = gc.timezone or "UTC"
    for field in _PLAIN_FIELDS:
        if creating or field in sent:
            value = getattr(gc, field)
            if value is None:
                value = copy.deepcopy(PLUGIN_DEFAULTS.get(field))
            elif field == "working_hours":
                value = [w.model_dump() for w in gc.working_hours or []]
            setattr(plugin, field, value)

    if gc.google_token is not None:
        _set_token(keyring, plugin, gc.google_token, gc.google_refresh_token, sent)
        plugin.access_token_expires_at = None  # a supplied token's expiry is unknown
    elif "google_refresh_token" in sent:
        GOOGLE_REFRESH_TOKEN.seal(keyring, plugin, gc.google_refresh_token)
    if gc.google_token is not None or gc.google_refresh_token is not None:
        # A new token is worth trying, whatever Google said about the old one. Always
        # written, even when it looks unchanged: a refresh that failed meanwhile may
        # have stored 'invalid' since this request read the row.
        plugin.credential_status = CREDENTIALS_VALID
        if not creating:
            flag_modified(plugin, "credential_status")
    if creating or "notification_target" in sent:
        NOTIFICATION_TARGET.seal(keyring, plugin, gc.notification_target)
    _check_busy_calendars(plugin)
    _check_notification(keyring, plugin, gc.notification_target, allow_private)
    if plugin.notification_type == "webhook" and NOTIFICATION_SECRET.sealed(plugin) is None:
        _give_secret(session, keyring, plugin)


def _same_calendar(plugin: GoogleCalendarPlugin, calendar_id: str) -> bool:
    """`calendar_id` names the function's own calendar: `primary` is the account's
    calendar, whose id is the account's e-mail; case does not tell ids apart."""
    own = str(plugin.google_user.get("email") or "").casefold()

    def name(value: str) -> str:
        return own if value == "primary" else value.casefold()

    return name(calendar_id) == name(plugin.calendar_id)


def _check_busy_calendars(plugin: GoogleCalendarPlugin) -> None:
    """The function's own calendar is never one of its other busy calendars: checked
    on what is stored after the request, as either field may have changed."""
    for calendar_id in plugin.busy_calendar_ids:
        if _same_calendar(plugin, calendar_id):
            raise InvalidInput(
                f"{_FIELD_PREFIX}.busyCalendarIds",
                f"lists {calendar_id!r}, the function's own calendar (calendarId "
                f"{plugin.calendar_id!r}), whose busy times block slots anyway; list only "
                "other calendars",
            )


def _give_secret(session: AsyncSession, keyring: Keyring, plugin: GoogleCalendarPlugin) -> None:
    """A new webhook signing secret, which only this request's answer shows."""
    secret = new_secret()
    NOTIFICATION_SECRET.seal(keyring, plugin, secret)
    session.info.setdefault(_FRESH_SECRETS, {})[plugin.id] = secret


_FRESH_SECRETS = "agentcal.fresh_notification_secrets"


def fresh_secret(session: AsyncSession, function: Function) -> str | None:
    """The signing secret this request made for the function, to show once; else None."""
    plugin = function.google_calendar
    made: dict[uuid.UUID, str] = session.info.get(_FRESH_SECRETS, {})
    return made.get(plugin.id) if plugin is not None else None


def _check_notification(
    keyring: Keyring, plugin: GoogleCalendarPlugin, sent_target: str | None, allow_private: bool
) -> None:
    if plugin.notification_content is not None:
        content_type = plugin.notification_content_type or "text"
        if problem := templates.problem(plugin.notification_content, content_type):
            raise InvalidInput(f"{_FIELD_PREFIX}.notificationContent", problem)
    if plugin.notification_type is None:
        return
    field = f"{_FIELD_PREFIX}.notificationTarget"
    target = sent_target or NOTIFICATION_TARGET.open(keyring, plugin)
    if target is None:
        raise InvalidInput(
            field, f"notificationType {plugin.notification_type!r} needs a notificationTarget"
        )
    if problem := target_problem(plugin.notification_type, target):
        raise InvalidInput(field, problem)
    if plugin.notification_type == "webhook" and not allow_private:
        if problem := addresses.literal_problem(target):
            raise InvalidInput(
                field,
                f"{problem}; give a public URL (an operator can allow private addresses "
                "with AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE=true)",
            )


async def create_function(
    session: AsyncSession,
    keyring: Keyring,
    institution_id: uuid.UUID,
    body: FunctionCreate,
    *,
    allow_private: bool = False,
) -> Function:
    await _check_references(session, institution_id, body, body.bot_id)
    function = Function(
        id=uuid.uuid4(),
        institution_id=institution_id,
        user_id=body.user_id,
        unity_id=body.unity_id,
        bot_id=body.bot_id,
        type=body.type,
        code=body.type,
        name=body.name,
        description=body.description,
        icon_file_id=body.icon_file_id,
        status=True,
        color=body.color or "gray",
        outputs=body.outputs or [],
        is_activated=True if body.is_activated is None else body.is_activated,
    )
    plugin = GoogleCalendarPlugin(id=uuid.uuid4(), function_id=function.id)
    _apply_plugin(session, keyring, plugin, body.google_calendar, True, allow_private)
    function.google_calendar = plugin
    session.add(function)
    await session.flush()
    return function


async def update_function(
    session: AsyncSession,
    keyring: Keyring,
    institution_id: uuid.UUID,
    function_id: uuid.UUID,
    body: FunctionUpdate,
    *,
    allow_private: bool = False,
) -> Function:
    function = await get_function(session, institution_id, function_id, for_update=True)
    sent = body.model_fields_set
    bot_id = body.bot_id if "bot_id" in sent else function.bot_id
    await _check_references(session, institution_id, body, bot_id)

    function.bot_id = bot_id
    function.user_id = body.user_id
    function.unity_id = body.unity_id
    function.type = function.code = body.type
    function.name = body.name
    function.description = body.description
    if "icon_file_id" in sent:
        function.icon_file_id = body.icon_file_id
    if "outputs" in sent:
        function.outputs = body.outputs or []
    if "color" in sent:
        function.color = body.color or "gray"
    if "is_activated" in sent:
        function.is_activated = True if body.is_activated is None else body.is_activated

    plugin = _plugin_of(function)
    _apply_plugin(session, keyring, plugin, body.google_calendar, False, allow_private)
    # Checked after applying: `googleRefreshToken: null` may have removed the last one.
    if GOOGLE_TOKEN.sealed(plugin) is None and GOOGLE_REFRESH_TOKEN.sealed(plugin) is None:
        raise InvalidInput(
            f"{_FIELD_PREFIX}.googleToken", "is required: no Google token would be left"
        )
    # Every applied PUT is an update of what the API shows, including the plugin's
    # `updatedAt` (the only one in the response), whatever field changed.
    function.updated_at = plugin.updated_at = utcnow()
    await session.flush()
    return function


async def duplicate_function(
    session: AsyncSession, keyring: Keyring, institution_id: uuid.UUID, function_id: uuid.UUID
) -> Function:
    """A copy with a new id, switched off (`isActivated: false`), secrets re-sealed for it."""
    source = await get_function(session, institution_id, function_id)
    copy = Function(
        id=uuid.uuid4(),
        institution_id=source.institution_id,
        user_id=source.user_id,
        unity_id=source.unity_id,
        bot_id=source.bot_id,
        type=source.type,
        code=source.code,
        name=source.name,
        description=source.description,
        icon_file_id=source.icon_file_id,
        status=source.status,
        color=source.color,
        outputs=list(source.outputs),
        is_activated=False,
    )
    original = _plugin_of(source)
    if original is not None:
        plugin = GoogleCalendarPlugin(id=uuid.uuid4(), function_id=copy.id)
        for column in GoogleCalendarPlugin.__table__.columns.keys():
            if column in {"id", "function_id", "created_at", "updated_at"}:
                continue
            if column.endswith(("_ciphertext", "_key_id")):
                continue
            setattr(plugin, column, getattr(original, column))
        plugin.google_user = dict(original.google_user)
        plugin.working_hours = [dict(w) for w in original.working_hours]
        plugin.busy_calendar_ids = list(original.busy_calendar_ids)
        for secret in GoogleCalendarPlugin.__secrets__:
            if secret is NOTIFICATION_SECRET:
                continue  # one secret per function: the copy gets its own
            # Secrets are bound to their row: open with the original's, seal with the copy's.
            secret.seal(keyring, plugin, secret.open(keyring, original))
        if plugin.notification_type == "webhook":
            _give_secret(session, keyring, plugin)
        copy.google_calendar = plugin
    session.add(copy)
    await session.flush()
    return copy


async def rotate_secret(
    session: AsyncSession, keyring: Keyring, institution_id: uuid.UUID, function_id: uuid.UUID
) -> Function:
    """Replace the function's webhook signing secret; the answer shows the new one once."""
    function = await get_function(session, institution_id, function_id, for_update=True)
    plugin = _plugin_of(function)
    _give_secret(session, keyring, plugin)
    function.updated_at = plugin.updated_at = utcnow()
    await session.flush()
    return function


async def delete_function(
    session: AsyncSession, institution_id: uuid.UUID, function_id: uuid.UUID
) -> None:
    """Delete a function; its plugin and sealed tokens go with it."""
    function = await get_function(session, institution_id, function_id, for_update=True)
    await session.delete(function)
    await session.flush()
