"""Request validation of `/api/v1/functions`: 422 problem details naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.factories import GOOGLE_ACCESS_TOKEN, Tenant
from tests.providers.google_calendar.functions_support import (
    MASK,
    assert_problem,
    body_for,
    create,
    error_fields,
    send,
)

BASE = "/api/v1/functions"
GC = "googleCalendar"
GU = "googleCalendar.googleUser"

WEBHOOK_TARGET = "https://hooks.clinica-exemplo.com.br/agentcal/bookings"
DISCORD_TARGET = (
    "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz012345"
)
TELEGRAM_TARGET = "6123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8:-1001234567890"


def set_path(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with the dotted `path` set to `value`."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    node[last] = value
    return body


def drop_path(body: dict[str, Any], path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[part]
    del node[last]
    return body


async def post(tenant: Tenant, body: Any) -> Any:
    return await send(tenant.api, "POST", f"{BASE}/", body)


# --- type ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["calcom", "discord", "Google-Calendar", "", 1, None])
async def test_type_other_than_google_calendar_is_422(tenant: Tenant, value: Any) -> None:
    response = await post(tenant, body_for(tenant, type=value))
    assert error_fields(response) == ["type"]


async def test_unsupported_type_lists_the_supported_ones(tenant: Tenant) -> None:
    response = await post(tenant, body_for(tenant, type="calcom"))
    assert_problem(response, 422)
    assert "google-calendar" in response.json()["errors"][0]["message"]
    assert response.json()["type"] == "urn:agentcal:problem:validation-error"
    assert response.json()["status"] == 422
    assert response.json()["title"]
    assert "type" in response.json()["detail"]


# --- required fields -------------------------------------------------------------------------

REQUIRED = [
    "name",
    "description",
    "type",
    "userId",
    "unityId",
    "googleCalendar",
    "googleCalendar.googleId",
    "googleCalendar.googleToken",
    "googleCalendar.googleUser",
    "googleCalendar.googleUser.id",
    "googleCalendar.googleUser.email",
    "googleCalendar.googleUser.verified_email",
    "googleCalendar.googleUser.name",
    "googleCalendar.googleUser.given_name",
    "googleCalendar.googleUser.family_name",
]


@pytest.mark.parametrize("path", REQUIRED)
async def test_missing_required_field_is_422_naming_it(tenant: Tenant, path: str) -> None:
    response = await post(tenant, drop_path(body_for(tenant), path))
    assert error_fields(response) == [path]
    assert response.json()["errors"][0]["message"] == "is required"


@pytest.mark.parametrize(
    "path",
    [
        "name",
        "description",
        "googleCalendar.googleId",
        "googleCalendar.googleToken",
        "googleCalendar.googleUser.id",
        "googleCalendar.googleUser.email",
        "googleCalendar.googleUser.name",
        "googleCalendar.googleUser.given_name",
        "googleCalendar.googleUser.family_name",
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
async def test_empty_required_string_is_422(tenant: Tenant, path: str, blank: str) -> None:
    response = await post(tenant, set_path(body_for(tenant), path, blank))
    assert error_fields(response) == [path]


@pytest.mark.parametrize("path", REQUIRED)
async def test_null_required_field_is_422(tenant: Tenant, path: str) -> None:
    response = await post(tenant, set_path(body_for(tenant), path, None))
    assert error_fields(response) == [path]


@pytest.mark.parametrize(
    "path", ["googleCalendar.googleUser.picture", "googleCalendar.googleUser.hd"]
)
async def test_optional_google_user_fields_may_be_left_out(tenant: Tenant, path: str) -> None:
    response = await post(tenant, drop_path(body_for(tenant), path))
    assert response.status_code == 201, response.text


# --- unknown fields --------------------------------------------------------------------------


async def test_unit_id_instead_of_unity_id_is_422_with_a_hint(tenant: Tenant) -> None:
    body = body_for(tenant)
    body["unitId"] = body.pop("unityId")
    response = await post(tenant, body)
    assert sorted(error_fields(response)) == ["unitId", "unityId"]
    [unknown] = [e for e in response.json()["errors"] if e["field"] == "unitId"]
    assert "unityId" in unknown["message"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("calendarName", "Clinic"),
        ("googleCalendar.calendarName", "Clinic"),
        ("googleCalendar.refreshToken", "1//abc"),
        ("googleCalendar.googleUser.locale", "pt-BR"),
        (
            "googleCalendar.workingHours",
            [{"days": ["mon"], "start": "09:00", "end": "10:00", "tz": "UTC"}],
        ),
    ],
)
async def test_unknown_field_is_422_naming_it(tenant: Tenant, path: str, value: Any) -> None:
    response = await post(tenant, set_path(body_for(tenant), path, value))
    expected = path if path != "googleCalendar.workingHours" else f"{GC}.workingHours[0].tz"
    assert error_fields(response) == [expected]
    assert response.json()["errors"][0]["message"] == "unknown field; remove it"


async def test_snake_case_key_is_an_unknown_field(tenant: Tenant) -> None:
    body = body_for(tenant)
    body[GC]["google_id"] = body[GC].pop("googleId")
    response = await post(tenant, body)
    assert sorted(error_fields(response)) == [f"{GC}.googleId", f"{GC}.google_id"]


# --- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("userId", "42"),
        ("userId", 42),
        ("unityId", "not-a-uuid"),
        ("unityId", ""),
        ("iconFileId", "icon.png"),
        ("botId", "bot-1"),
        ("name", "x" * 121),
        ("name", 7),
        ("description", ["a prompt"]),
        ("color", "gray; drop"),
        ("isActivated", "false"),
        ("outputs", "appointmentId"),
        ("outputs", {"a": 1}),
        ("outputs", list(range(51))),
        ("outputs", [[[[[[[[[["too deep"]]]]]]]]]]),
        ("googleCalendar", "ya29.token"),
        ("googleCalendar.googleId", "ana.souza"),
        ("googleCalendar.googleId", 109876543210987654321),
        ("googleCalendar.calendarId", "x" * 256),
        ("googleCalendar.timezone", "Mars/Olympus_Mons"),
        ("googleCalendar.timezone", "america/sao_paulo"),
        ("googleCalendar.timezone", "GMT+3"),
        ("googleCalendar.timezone", "-03:00"),
        ("googleCalendar.timezone", 0),
        ("googleCalendar.googleUser", "ana.souza@clinica-exemplo.com.br"),
        ("googleCalendar.googleUser.id", "ana"),
        ("googleCalendar.googleUser.email", "ana.souza"),
        ("googleCalendar.googleUser.email", "ana@@clinica.com"),
        ("googleCalendar.googleUser.verified_email", "true"),
        ("googleCalendar.googleUser.verified_email", 1),
        ("googleCalendar.googleUser.verified_email", None),
        ("googleCalendar.googleUser.picture", "javascript:alert(1)"),
        ("googleCalendar.googleUser.name", "x" * 121),
        ("googleCalendar.googleToken", "oauth_access_token"),
        ("googleCalendar.googleToken", "Bearer ya29.a0AfB_byC3"),
        ("googleCalendar.googleToken", "sk-abc123"),
        ("googleCalendar.googleToken", "ya29.abc def"),
        ("googleCalendar.googleToken", "ya29.abc\r\nX-Injected: 1"),
        ("googleCalendar.googleToken", 12345),
        ("googleCalendar.googleRefreshToken", GOOGLE_ACCESS_TOKEN),
        ("googleCalendar.googleRefreshToken", "refresh-token"),
        ("googleCalendar.googleRefreshToken", "1//abc def"),
        ("googleCalendar.notificationContent", "x" * 4001),
    ],
)
async def test_malformed_value_is_422_naming_the_field(
    tenant: Tenant, path: str, value: Any
) -> None:
    response = await post(tenant, set_path(body_for(tenant), path, value))
    assert error_fields(response) == [path]


@pytest.mark.parametrize(
    "timezone", ["UTC", "America/Sao_Paulo", "Europe/Lisbon", "Asia/Kolkata", "Etc/GMT+3"]
)
async def test_iana_timezones_are_accepted(tenant: Tenant, timezone: str) -> None:
    function = await create(tenant, googleCalendar={"timezone": timezone})
    assert function["googleCalendarPlugin"][0]["timezone"] == timezone


async def test_verified_email_false_is_accepted(tenant: Tenant) -> None:
    body = set_path(body_for(tenant), "googleCalendar.googleUser.verified_email", False)
    assert (await post(tenant, body)).status_code == 201


async def test_body_that_is_not_an_object_is_422(tenant: Tenant) -> None:
    response = await post(tenant, [body_for(tenant)])
    assert_problem(response, 422)


async def test_body_that_is_not_json_is_400(tenant: Tenant) -> None:
    response = await send(tenant.api, "POST", f"{BASE}/", None, raw='{"name": "Google Cal')
    assert_problem(response, 400)


async def test_every_error_is_reported_at_once(tenant: Tenant) -> None:
    body = body_for(tenant, name="", userId="x")
    body[GC]["timezone"] = "Nowhere/Land"
    body[GC]["googleUser"]["email"] = "nope"
    response = await post(tenant, body)
    assert sorted(error_fields(response)) == sorted(
        ["name", "userId", f"{GC}.timezone", f"{GU}.email"]
    )


# --- scheduling rules ------------------------------------------------------------------------


def hours(**item: Any) -> list[dict[str, Any]]:
    base = {"days": ["mon", "tue"], "start": "09:00", "end": "18:00"}
    base.update(item)
    return [base]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (hours(days=["funday"]), "workingHours[0].days[0]"),
        (hours(days=["Mon"]), "workingHours[0].days[0]"),
        (hours(days=[]), "workingHours[0].days"),
        (hours(days="mon"), "workingHours[0].days"),
        (hours(days=["mon", "mon"]), "workingHours[0]"),
        (hours(start="9:00"), "workingHours[0].start"),
        (hours(start="25:00"), "workingHours[0].start"),
        (hours(start="09:00:00"), "workingHours[0].start"),
        (hours(start=900), "workingHours[0].start"),
        (hours(end="18:60"), "workingHours[0].end"),
        (hours(end="24:01"), "workingHours[0].end"),
        (hours(start="18:00", end="09:00"), "workingHours[0]"),
        (hours(start="09:00", end="09:00"), "workingHours[0]"),
        ([], "workingHours"),
        ("mon-fri 9-18", "workingHours"),
        ([{"days": ["mon"], "start": "09:00"}], "workingHours[0].end"),
        (hours() + hours(start="10:00", end="08:00"), "workingHours[1]"),
    ],
)
async def test_bad_working_hours_are_422(tenant: Tenant, value: Any, field: str) -> None:
    response = await post(tenant, set_path(body_for(tenant), f"{GC}.workingHours", value))
    assert error_fields(response) == [f"{GC}.{field}"]


async def test_working_hours_until_midnight_are_accepted(tenant: Tenant) -> None:
    value = hours(days=["sat", "sun"], start="00:00", end="24:00")
    function = await create(tenant, googleCalendar={"workingHours": value})
    assert function["googleCalendarPlugin"][0]["workingHours"] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slotMinutes", 0),
        ("slotMinutes", 4),
        ("slotMinutes", 481),
        ("slotMinutes", "30"),
        ("slotMinutes", 30.5),
        ("slotMinutes", True),
        ("minNoticeMinutes", -1),
        ("minNoticeMinutes", 43_201),
        ("minNoticeMinutes", "60"),
        ("bufferMinutes", -5),
        ("bufferMinutes", 481),
        ("horizonDays", 0),
        ("horizonDays", 366),
        ("horizonDays", 2**63),
        ("notificationDelayMs", -1),
        ("notificationDelayMs", 86_400_001),
        ("notificationDelayMs", "1000"),
        ("notificationWaitForSpeech", 60_001),
        ("notificationWaitForSpeech", -1),
        ("checkAvailabilityEnabled", "true"),
        ("createBookingEnabled", 1),
        ("createMeetLink", "false"),
    ],
)
async def test_out_of_range_or_mistyped_setting_is_422(
    tenant: Tenant, field: str, value: Any
) -> None:
    response = await post(tenant, set_path(body_for(tenant), f"{GC}.{field}", value))
    assert error_fields(response) == [f"{GC}.{field}"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slotMinutes", 5),
        ("slotMinutes", 480),
        ("minNoticeMinutes", 0),
        ("bufferMinutes", 480),
        ("horizonDays", 1),
        ("horizonDays", 365),
        ("notificationDelayMs", 86_400_000),
        ("notificationWaitForSpeech", 60_000),
    ],
)
async def test_settings_at_their_bounds_are_accepted(
    tenant: Tenant, field: str, value: Any
) -> None:
    function = await create(tenant, googleCalendar={field: value})
    assert function["googleCalendarPlugin"][0][field] == value


# --- other busy calendars --------------------------------------------------------------------

OWN = "ana.souza@clinica-exemplo.com.br"  # the calendarId and e-mail of `body_for`
TEAM = "c0ffee12team@group.calendar.google.com"


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ("team@example.com", "busyCalendarIds", "array"),
        ([""], "busyCalendarIds[0]", "at least 1"),
        (["   "], "busyCalendarIds[0]", "at least 1"),
        ([7], "busyCalendarIds[0]", "string"),
        ([None], "busyCalendarIds[0]", "string"),
        (["x" * 256], "busyCalendarIds[0]", "at most 255"),
        ([TEAM, "ok@example.com", "a\x00b"], "busyCalendarIds[2]", "NUL"),
        ([f"c{i}@group.calendar.google.com" for i in range(11)], "busyCalendarIds", "at most 10"),
        ([TEAM, TEAM.upper()], "busyCalendarIds", "twice"),
        ([TEAM, f" {TEAM} "], "busyCalendarIds", "twice"),
    ],
)
async def test_bad_busy_calendar_ids_are_422_naming_the_field(
    tenant: Tenant, value: Any, field: str, words: str
) -> None:
    response = await post(tenant, set_path(body_for(tenant), f"{GC}.busyCalendarIds", value))
    assert error_fields(response) == [f"{GC}.{field}"]
    assert words in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("own", [OWN, OWN.upper(), "primary"])
async def test_the_functions_own_calendar_is_refused_as_a_busy_calendar(
    tenant: Tenant, own: str
) -> None:
    body = set_path(body_for(tenant), f"{GC}.busyCalendarIds", [TEAM, own])
    response = await post(tenant, body)
    assert error_fields(response) == [f"{GC}.busyCalendarIds"]
    assert "own calendar" in response.json()["errors"][0]["message"]


async def test_a_primary_calendar_id_refuses_the_accounts_email_as_a_busy_calendar(
    tenant: Tenant,
) -> None:
    body = body_for(tenant, googleCalendar={"calendarId": "primary", "busyCalendarIds": [OWN]})
    assert error_fields(await post(tenant, body)) == [f"{GC}.busyCalendarIds"]


async def test_a_function_on_another_calendar_may_list_the_primary_one(tenant: Tenant) -> None:
    calendar = {"calendarId": TEAM, "busyCalendarIds": ["primary"]}
    function = await create(tenant, googleCalendar=calendar)
    assert function["googleCalendarPlugin"][0]["busyCalendarIds"] == ["primary"]


async def test_a_put_moving_calendar_id_onto_a_listed_busy_calendar_is_422(
    tenant: Tenant,
) -> None:
    function = await create(tenant, googleCalendar={"busyCalendarIds": [TEAM]})
    body = drop_path(set_path(body_for(tenant), f"{GC}.calendarId", TEAM), f"{GC}.googleToken")
    response = await send(tenant.api, "PUT", f"{BASE}/{function['id']}", body)
    assert error_fields(response) == [f"{GC}.busyCalendarIds"]
    stored = await tenant.api.get(f"{BASE}/{function['id']}")
    assert stored.json()["googleCalendarPlugin"][0]["calendarId"] == OWN


@pytest.mark.parametrize(
    "value",
    [
        [],
        [f"  {TEAM}  "],
        [f"c{i}@group.calendar.google.com" for i in range(10)],
        ["x" * 255],
    ],
)
async def test_busy_calendar_ids_within_bounds_are_accepted_trimmed(
    tenant: Tenant, value: list[str]
) -> None:
    body = body_for(tenant)
    body[GC]["busyCalendarIds"] = value
    response = await post(tenant, body)
    assert response.status_code == 201, response.text
    stored = response.json()["googleCalendarPlugin"][0]["busyCalendarIds"]
    assert stored == [v.strip() for v in value]


# --- notifications ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notification", "field"),
    [
        ({"notificationType": "sms"}, "notificationType"),
        ({"notificationType": "Webhook"}, "notificationType"),
        ({"notificationContentType": "xml"}, "notificationContentType"),
        ({"notificationType": "webhook"}, "notificationTarget"),
        ({"notificationType": "discord"}, "notificationTarget"),
        ({"notificationType": "telegram"}, "notificationTarget"),
        ({"notificationType": "webhook", "notificationTarget": None}, "notificationTarget"),
        ({"notificationType": "webhook", "notificationTarget": "  "}, "notificationTarget"),
        ({"notificationType": "webhook", "notificationTarget": "not a url"}, "notificationTarget"),
        (
            {"notificationType": "webhook", "notificationTarget": "hooks.example.com/x"},
            "notificationTarget",
        ),
        (
            {"notificationType": "webhook", "notificationTarget": "ftp://example.com/x"},
            "notificationTarget",
        ),
        ({"notificationType": "webhook", "notificationTarget": "https://"}, "notificationTarget"),
        (
            {"notificationType": "webhook", "notificationTarget": "http://[oops/x"},
            "notificationTarget",
        ),
        (
            {"notificationType": "webhook", "notificationTarget": "https://example.com:99999/x"},
            "notificationTarget",
        ),
        ({"notificationType": "webhook", "notificationTarget": 42}, "notificationTarget"),
        (
            {"notificationType": "discord", "notificationTarget": WEBHOOK_TARGET},
            "notificationTarget",
        ),
        (
            {
                "notificationType": "discord",
                "notificationTarget": DISCORD_TARGET.replace("https", "http"),
            },
            "notificationTarget",
        ),
        (
            {
                "notificationType": "discord",
                "notificationTarget": "https://discord.com/channels/1/2",
            },
            "notificationTarget",
        ),
        (
            {"notificationType": "discord", "notificationTarget": "https://[::1/api/webhooks/1/x"},
            "notificationTarget",
        ),
        (
            {"notificationType": "discord", "notificationTarget": TELEGRAM_TARGET},
            "notificationTarget",
        ),
        ({"notificationType": "telegram", "notificationTarget": "123456"}, "notificationTarget"),
        (
            {"notificationType": "telegram", "notificationTarget": WEBHOOK_TARGET},
            "notificationTarget",
        ),
        (
            {
                "notificationType": "telegram",
                "notificationTarget": "6123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8",
            },
            "notificationTarget",
        ),
    ],
)
async def test_bad_notification_settings_are_422(
    tenant: Tenant, notification: dict[str, Any], field: str
) -> None:
    response = await post(tenant, body_for(tenant, googleCalendar=notification))
    assert error_fields(response) == [f"{GC}.{field}"]


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("webhook", WEBHOOK_TARGET),
        ("webhook", "http://n8n.clinica-exemplo.com.br:5678/webhook/agenda"),
        ("discord", DISCORD_TARGET),
        ("discord", "https://discordapp.com/api/webhooks/1/token-abc"),
        ("telegram", TELEGRAM_TARGET),
        ("telegram", "6123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8:@clinica_agenda"),
    ],
)
async def test_valid_notification_targets_are_accepted(
    tenant: Tenant, kind: str, target: str
) -> None:
    notification = {
        "notificationType": kind,
        "notificationTarget": target,
        "notificationContentType": "text",
    }
    response = await post(tenant, body_for(tenant, googleCalendar=notification))
    assert response.status_code == 201, response.text
    plugin = response.json()["googleCalendarPlugin"][0]
    assert plugin["notificationType"] == kind
    assert plugin["notificationContentType"] == "text"
    assert plugin["notificationTarget"] == MASK
    assert target not in response.text


async def test_target_without_a_type_is_stored(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar={"notificationTarget": WEBHOOK_TARGET})
    assert function["googleCalendarPlugin"][0]["notificationTarget"] == MASK
    assert function["googleCalendarPlugin"][0]["notificationType"] is None


# --- what a database cannot store ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "name",
        "description",
        "googleCalendar.googleId",
        "googleCalendar.calendarId",
        "googleCalendar.timezone",
        "googleCalendar.notificationContent",
        "googleCalendar.notificationTarget",
        "googleCalendar.googleToken",
        "googleCalendar.googleRefreshToken",
        "googleCalendar.googleUser.email",
        "googleCalendar.googleUser.name",
        "googleCalendar.googleUser.given_name",
        "googleCalendar.googleUser.family_name",
        "googleCalendar.googleUser.picture",
        "googleCalendar.googleUser.hd",
    ],
)
@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
async def test_unstorable_characters_in_strings_are_422(
    tenant: Tenant, path: str, bad: str
) -> None:
    body = body_for(tenant)
    current = {
        "googleCalendar.notificationTarget": WEBHOOK_TARGET,
        "googleCalendar.googleRefreshToken": "1//0gLq8vR2sT4uV6wX8yZ0aB2c",
    }.get(path)
    if current is None:
        node: Any = body
        for part in path.split("."):
            node = node[part]
        current = node
    response = await post(tenant, set_path(body, path, current[:6] + bad + current[6:]))
    assert error_fields(response) == [path]


@pytest.mark.parametrize(
    "outputs",
    [
        ["appointment\x00Id"],
        [{"na\x00me": "start"}],
        [{"name": ["deep", {"x": "\x00"}]}],
        ["\udc00"],
        [{"\ud800": 1}],
    ],
)
async def test_unstorable_characters_in_outputs_are_422(tenant: Tenant, outputs: Any) -> None:
    response = await post(tenant, body_for(tenant, outputs=outputs))
    assert error_fields(response) == ["outputs"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_in_outputs_are_422(tenant: Tenant, number: str) -> None:
    """Python's JSON parser takes them; PostgreSQL's JSON and the response cannot."""
    raw = json.dumps(body_for(tenant, outputs=["PLACEHOLDER"])).replace(
        '"PLACEHOLDER"', f'{{"score": {number}}}'
    )
    response = await send(tenant.api, "POST", f"{BASE}/", None, raw=raw)
    assert error_fields(response) == ["outputs[0].score"]  # the very place


async def test_outputs_beyond_64_kib_are_422_and_at_it_are_kept(tenant: Tenant) -> None:
    # One JSON string of n characters is n + 4 bytes with its quotes and brackets.
    response = await post(tenant, body_for(tenant, outputs=["x" * (64 * 1024 - 3)]))
    assert error_fields(response) == ["outputs"]
    assert "65536 bytes" in response.json()["errors"][0]["message"]
    function = await create(tenant, outputs=["x" * (64 * 1024 - 4)])
    assert len(function["outputs"][0]) == 64 * 1024 - 4


async def test_ordinary_unicode_is_kept(tenant: Tenant) -> None:
    name = "Agenda da Dra. Ana — São Paulo 🗓️"
    function = await create(tenant, name=name, outputs=["horário", {"emoji": "✅"}])
    assert function["name"] == name
    assert function["outputs"] == ["horário", {"emoji": "✅"}]


# --- PUT validates the same way --------------------------------------------------------------


def put_body(tenant: Tenant) -> dict[str, Any]:
    body = body_for(tenant)
    del body[GC]["googleToken"]
    del body[GC]["googleUser"]["id"], body[GC]["googleUser"]["verified_email"]
    return body


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("type", "calcom", "type"),
        ("googleCalendar.timezone", "Mars/Olympus_Mons", f"{GC}.timezone"),
        ("googleCalendar.googleToken", "not-a-token", f"{GC}.googleToken"),
        ("googleCalendar.googleUser.verified_email", "true", f"{GU}.verified_email"),
        ("googleCalendar.googleUser.id", "abc", f"{GU}.id"),
        ("googleCalendar.slotMinutes", 1, f"{GC}.slotMinutes"),
        ("googleCalendar.notificationType", "sms", f"{GC}.notificationType"),
        ("googleCalendar.notificationType", "webhook", f"{GC}.notificationTarget"),
        ("unitId", "x", "unitId"),
        ("name", "a\x00b", "name"),
    ],
)
async def test_put_refuses_what_create_refuses(
    tenant: Tenant, path: str, value: Any, field: str
) -> None:
    function = await create(tenant)
    response = await send(
        tenant.api, "PUT", f"{BASE}/{function['id']}", set_path(put_body(tenant), path, value)
    )
    assert error_fields(response) == [field]
    got = await tenant.api.get(f"{BASE}/{function['id']}")
    assert got.json() == function


@pytest.mark.parametrize(
    "path",
    [
        "name",
        "description",
        "type",
        "userId",
        "unityId",
        "googleCalendar",
        "googleCalendar.googleId",
        "googleCalendar.googleUser",
        "googleCalendar.googleUser.email",
        "googleCalendar.googleUser.name",
        "googleCalendar.googleUser.given_name",
        "googleCalendar.googleUser.family_name",
    ],
)
async def test_put_still_requires_the_rest_of_the_body(tenant: Tenant, path: str) -> None:
    function = await create(tenant)
    body = drop_path(put_body(tenant), path)
    response = await send(tenant.api, "PUT", f"{BASE}/{function['id']}", body)
    assert error_fields(response) == [path]


async def test_malformed_ids_in_the_path_are_422(tenant: Tenant) -> None:
    for method, url in (
        ("GET", f"{BASE}/not-a-uuid"),
        ("DELETE", f"{BASE}/not-a-uuid"),
        ("POST", f"{BASE}/duplicate/not-a-uuid"),
    ):
        response = await tenant.api.request(method, url)
        assert error_fields(response) == ["id"], (method, url)
