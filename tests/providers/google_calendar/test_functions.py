"""`/api/v1/functions`: the Google Calendar function seed and what completes it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from agentcal.providers.google_calendar.models import GOOGLE_REFRESH_TOKEN as REFRESH_SECRET
from agentcal.providers.google_calendar.models import GOOGLE_TOKEN as TOKEN_SECRET
from agentcal.providers.google_calendar.models import NOTIFICATION_TARGET as TARGET_SECRET
from tests.factories import (
    GOOGLE_ACCESS_TOKEN,
    GOOGLE_REFRESH_TOKEN,
    Tenant,
    add_member,
    google_user,
)
from tests.providers.google_calendar.functions_support import (
    ISO_MILLIS,
    MASK,
    assert_no_secret,
    assert_problem,
    body_for,
    create,
    error_fields,
    make_bot,
    make_unit,
    stored_function,
    stored_plugin,
)

BASE = "/api/v1/functions"
FUNCTION_KEYS = {
    "id",
    "institutionId",
    "userId",
    "unityId",
    "code",
    "description",
    "iconFileId",
    "status",
    "name",
    "color",
    "outputs",
    "isActivated",
    "type",
    "googleCalendarPlugin",
    "discordPlugin",
    "telegramPlugin",
    "botId",
}
SEED_PLUGIN_KEYS = {
    "id",
    "googleId",
    "calendarId",
    "timezone",
    "pluginId",
    "notificationType",
    "notificationContentType",
    "notificationContent",
    "notificationDelayMs",
    "notificationWaitForSpeech",
    "createdAt",
    "updatedAt",
    "googleUser",
    "googleToken",
}
EXTENSION_DEFAULTS: dict[str, Any] = {
    "credentialStatus": "valid",
    "googleRefreshToken": None,
    "notificationTarget": None,
    "notificationSecret": None,
    "workingHours": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
    ],
    "slotMinutes": 30,
    "minNoticeMinutes": 60,
    "bufferMinutes": 0,
    "horizonDays": 60,
    "checkAvailabilityEnabled": True,
    "createBookingEnabled": True,
    "createMeetLink": False,
    "busyCalendarIds": [],
}
WEBHOOK_TARGET = "https://hooks.clinica-exemplo.com.br/agentcal/bookings?sig=8f1e2d3c4b5a"
DISCORD_TARGET = (
    "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz012345"
)
TELEGRAM_TARGET = "6123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8:-1001234567890"
CUSTOM_RULES: dict[str, Any] = {
    "workingHours": [
        {"days": ["mon", "wed"], "start": "08:00", "end": "12:00"},
        {"days": ["sat"], "start": "10:00", "end": "14:30"},
    ],
    "slotMinutes": 45,
    "minNoticeMinutes": 120,
    "bufferMinutes": 15,
    "horizonDays": 30,
    "checkAvailabilityEnabled": False,
    "createBookingEnabled": False,
    "createMeetLink": True,
    "busyCalendarIds": ["c0ffee12team@group.calendar.google.com", "ana.personal@example.com"],
}


def update_body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """Toolzz's update body: the create body without `googleToken`, `googleUser.id`
    and `googleUser.verified_email`."""
    body = body_for(tenant, **overrides)
    calendar = body["googleCalendar"]
    if "googleToken" not in overrides.get("googleCalendar", {}):
        del calendar["googleToken"]
    user = calendar["googleUser"]
    user.pop("id")
    user.pop("verified_email")
    return body


def plugin_of(function: dict[str, Any]) -> dict[str, Any]:
    assert len(function["googleCalendarPlugin"]) == 1
    return function["googleCalendarPlugin"][0]


async def open_secrets(app: FastAPI, function_id: str) -> dict[str, str | None]:
    plugin = await stored_plugin(app, function_id)
    assert plugin is not None
    keyring = app.state.keyring
    return {
        "token": TOKEN_SECRET.open(keyring, plugin),
        "refresh": REFRESH_SECRET.open(keyring, plugin),
        "target": TARGET_SECRET.open(keyring, plugin),
    }


# --- 1. create ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{BASE}/", BASE])
async def test_create_with_the_seed_body_answers_201_without_redirect(
    tenant: Tenant, path: str
) -> None:
    response = await tenant.api.post(path, json=body_for(tenant))
    assert response.status_code == 201, response.text
    assert "location" not in response.headers
    assert response.json()["googleCalendarPlugin"][0]["pluginId"] == response.json()["id"]


async def test_create_answers_exactly_the_seed_keys(tenant: Tenant) -> None:
    function = await create(tenant)
    assert set(function) == FUNCTION_KEYS


async def test_create_answers_the_seed_values(tenant: Tenant) -> None:
    body = body_for(tenant)
    function = await create(tenant)
    uuid.UUID(function["id"])
    assert function["institutionId"] == tenant.institution_id
    assert function["userId"] == tenant.user_id
    assert function["unityId"] == tenant.unit_id
    assert function["code"] == "google-calendar"
    assert function["type"] == "google-calendar"
    assert function["color"] == "gray"
    assert function["status"] is True
    assert function["isActivated"] is True
    assert function["name"] == body["name"]
    assert function["description"] == body["description"]
    assert function["iconFileId"] is None
    assert function["outputs"] == []
    assert function["discordPlugin"] == []
    assert function["telegramPlugin"] == []
    assert function["botId"] is None


async def test_create_plugin_has_seed_and_extension_keys_with_defaults(tenant: Tenant) -> None:
    function = await create(tenant)
    plugin = plugin_of(function)
    assert set(plugin) == SEED_PLUGIN_KEYS | set(EXTENSION_DEFAULTS)
    uuid.UUID(plugin["id"])
    assert plugin["id"] != function["id"]
    assert plugin["pluginId"] == function["id"]
    assert plugin["googleId"] == "109876543210987654321"
    assert plugin["calendarId"] == "ana.souza@clinica-exemplo.com.br"
    assert plugin["timezone"] == "America/Sao_Paulo"
    assert plugin["notificationType"] is None
    assert plugin["notificationContentType"] is None
    assert plugin["notificationContent"] == "New appointment: {{attendeeName}} at {{start}}"
    assert plugin["notificationDelayMs"] == 0
    assert plugin["notificationWaitForSpeech"] == 0
    assert plugin["googleToken"] == MASK
    for key, default in EXTENSION_DEFAULTS.items():
        assert plugin[key] == default, key


async def test_create_google_user_drops_id_and_verified_email(tenant: Tenant) -> None:
    plugin = plugin_of(await create(tenant))
    expected = google_user()
    del expected["id"], expected["verified_email"]
    assert plugin["googleUser"] == expected


async def test_create_timestamps_are_iso_utc_with_milliseconds(tenant: Tenant) -> None:
    plugin = plugin_of(await create(tenant))
    assert re.fullmatch(ISO_MILLIS, plugin["createdAt"])
    assert re.fullmatch(ISO_MILLIS, plugin["updatedAt"])


async def test_create_takes_the_optional_extensions(tenant: Tenant) -> None:
    bot_id = await make_bot(tenant)
    icon = str(uuid.uuid4())
    function = await create(
        tenant,
        iconFileId=icon,
        outputs=["appointmentId", {"name": "start", "type": "string"}],
        color="blue",
        isActivated=False,
        botId=bot_id,
        googleCalendar=CUSTOM_RULES,
    )
    assert function["iconFileId"] == icon
    assert function["outputs"] == ["appointmentId", {"name": "start", "type": "string"}]
    assert function["color"] == "blue"
    assert function["isActivated"] is False
    assert function["botId"] == bot_id
    plugin = plugin_of(function)
    for key, value in CUSTOM_RULES.items():
        assert plugin[key] == value, key


async def test_create_trims_strings(tenant: Tenant) -> None:
    function = await create(
        tenant, name="  Agenda da Dra. Ana  ", googleCalendar={"googleId": " 1234 "}
    )
    assert function["name"] == "Agenda da Dra. Ana"
    assert plugin_of(function)["googleId"] == "1234"


async def test_a_member_may_create_functions(app: FastAPI, tenant: Tenant) -> None:
    member, token = await add_member(app, tenant, "bruno@acme-clinics.test")
    async with tenant.client(token) as api:
        response = await api.post(f"{BASE}/", json=body_for(tenant, userId=str(member.id)))
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == str(member.id)


async def test_create_needs_a_token(client: Any, tenant: Tenant) -> None:
    response = await client.post(f"{BASE}/", json=body_for(tenant))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- 2. masking -----------------------------------------------------------------------------


SECRETS = (GOOGLE_ACCESS_TOKEN, GOOGLE_REFRESH_TOKEN, WEBHOOK_TARGET)
WITH_SECRETS: dict[str, Any] = {
    "googleRefreshToken": GOOGLE_REFRESH_TOKEN,
    "notificationType": "webhook",
    "notificationTarget": WEBHOOK_TARGET,
}


def assert_masked(function: dict[str, Any], refresh: bool, target: bool) -> None:
    plugin = plugin_of(function)
    assert plugin["googleToken"] == MASK
    assert plugin["googleRefreshToken"] == (MASK if refresh else None)
    assert plugin["notificationTarget"] == (MASK if target else None)


async def test_create_masks_every_secret(tenant: Tenant) -> None:
    response = await tenant.api.post(f"{BASE}/", json=body_for(tenant, googleCalendar=WITH_SECRETS))
    assert response.status_code == 201, response.text
    assert_masked(response.json(), refresh=True, target=True)
    assert_no_secret(response, *SECRETS)


async def test_create_without_optional_secrets_answers_null(tenant: Tenant) -> None:
    response = await tenant.api.post(f"{BASE}/", json=body_for(tenant))
    assert response.status_code == 201, response.text
    assert_masked(response.json(), refresh=False, target=False)
    assert_no_secret(response, GOOGLE_ACCESS_TOKEN)


async def test_get_masks_every_secret(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=WITH_SECRETS)
    response = await tenant.api.get(f"{BASE}/{function['id']}")
    assert response.status_code == 200
    assert_masked(response.json(), refresh=True, target=True)
    assert_no_secret(response, *SECRETS)


async def test_list_masks_every_secret(tenant: Tenant) -> None:
    await create(tenant, googleCalendar=WITH_SECRETS)
    await create(tenant)
    response = await tenant.api.get(f"{BASE}/")
    assert response.status_code == 200
    newest, oldest = response.json()["data"]
    assert_masked(newest, refresh=False, target=False)
    assert_masked(oldest, refresh=True, target=True)
    assert_no_secret(response, *SECRETS)


async def test_put_masks_every_secret(tenant: Tenant) -> None:
    function = await create(tenant)
    body = body_for(tenant, googleCalendar=WITH_SECRETS)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert_masked(response.json(), refresh=True, target=True)
    assert_no_secret(response, *SECRETS)


async def test_duplicate_masks_every_secret(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=WITH_SECRETS)
    response = await tenant.api.post(f"{BASE}/duplicate/{function['id']}")
    assert response.status_code == 201, response.text
    assert_masked(response.json(), refresh=True, target=True)
    assert_no_secret(response, *SECRETS)


async def test_secrets_are_stored_encrypted(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=WITH_SECRETS)
    plugin = await stored_plugin(app, function["id"])
    assert plugin is not None
    for blob in (
        plugin.google_token_ciphertext,
        plugin.google_refresh_token_ciphertext,
        plugin.notification_target_ciphertext,
    ):
        assert blob is not None
        for secret in SECRETS:
            assert secret.encode() not in blob
    assert await open_secrets(app, function["id"]) == {
        "token": GOOGLE_ACCESS_TOKEN,
        "refresh": GOOGLE_REFRESH_TOKEN,
        "target": WEBHOOK_TARGET,
    }


# --- 3. defaults ----------------------------------------------------------------------------


async def test_calendar_id_defaults_to_the_google_users_email(tenant: Tenant) -> None:
    body = body_for(tenant)
    del body["googleCalendar"]["calendarId"]
    response = await tenant.api.post(f"{BASE}/", json=body)
    assert response.status_code == 201, response.text
    assert plugin_of(response.json())["calendarId"] == "ana.souza@clinica-exemplo.com.br"


async def test_timezone_defaults_to_utc(tenant: Tenant) -> None:
    body = body_for(tenant)
    del body["googleCalendar"]["timezone"]
    response = await tenant.api.post(f"{BASE}/", json=body)
    assert response.status_code == 201, response.text
    assert plugin_of(response.json())["timezone"] == "UTC"


async def test_null_calendar_id_and_timezone_take_the_defaults(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar={"calendarId": None, "timezone": None})
    assert plugin_of(function)["calendarId"] == "ana.souza@clinica-exemplo.com.br"
    assert plugin_of(function)["timezone"] == "UTC"


async def test_seed_minimum_body_is_accepted(tenant: Tenant) -> None:
    """Only the fields the seed marks required."""
    body = body_for(tenant)
    for optional in ("iconFileId", "outputs"):
        del body[optional]
    calendar = body["googleCalendar"]
    for optional in ("calendarId", "timezone", "notificationContent"):
        del calendar[optional]
    del calendar["googleUser"]["picture"], calendar["googleUser"]["hd"]
    response = await tenant.api.post(f"{BASE}/", json=body)
    assert response.status_code == 201, response.text
    function = response.json()
    assert function["outputs"] == []
    assert plugin_of(function)["notificationContent"] is None
    assert plugin_of(function)["googleUser"]["picture"] is None
    assert plugin_of(function)["googleUser"]["hd"] is None


async def test_refresh_token_as_google_token_is_accepted(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar={"googleToken": GOOGLE_REFRESH_TOKEN})
    assert plugin_of(function)["googleToken"] == MASK
    assert plugin_of(function)["googleRefreshToken"] == MASK
    secrets = await open_secrets(app, function["id"])
    assert secrets["refresh"] == GOOGLE_REFRESH_TOKEN
    assert secrets["token"] is None


async def test_refresh_token_beside_access_token_is_stored(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar={"googleRefreshToken": GOOGLE_REFRESH_TOKEN})
    plugin = await stored_plugin(app, function["id"])
    assert plugin is not None
    assert REFRESH_SECRET.open(app.state.keyring, plugin) == GOOGLE_REFRESH_TOKEN
    assert TOKEN_SECRET.open(app.state.keyring, plugin) == GOOGLE_ACCESS_TOKEN


async def test_refresh_token_twice_is_refused(tenant: Tenant) -> None:
    body = body_for(
        tenant,
        googleCalendar={"googleToken": GOOGLE_REFRESH_TOKEN, "googleRefreshToken": "1//other"},
    )
    response = await tenant.api.post(f"{BASE}/", json=body)
    assert error_fields(response) == ["googleCalendar.googleRefreshToken"]


# --- 4. get and list ------------------------------------------------------------------------


async def test_get_by_id_answers_the_created_function(tenant: Tenant) -> None:
    function = await create(tenant)
    response = await tenant.api.get(f"{BASE}/{function['id']}")
    assert response.status_code == 200
    assert response.json() == function


async def test_get_unknown_id_is_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.get(f"{BASE}/{uuid.uuid4()}"), 404)


async def test_list_answers_data_newest_first(tenant: Tenant) -> None:
    first = await create(tenant, name="First")
    second = await create(tenant, name="Second")
    third = await create(tenant, name="Third")
    response = await tenant.api.get(f"{BASE}/")
    assert response.status_code == 200
    assert set(response.json()) == {"data"}
    assert [f["id"] for f in response.json()["data"]] == [third["id"], second["id"], first["id"]]
    assert "link" not in response.headers


async def test_list_without_trailing_slash_answers_without_redirect(tenant: Tenant) -> None:
    function = await create(tenant)
    response = await tenant.api.get(BASE)
    assert response.status_code == 200
    assert [f["id"] for f in response.json()["data"]] == [function["id"]]


async def test_list_filters_by_unit(tenant: Tenant) -> None:
    other_unit = await make_unit(tenant)
    mine = await create(tenant)
    theirs = await create(tenant, unityId=other_unit)
    response = await tenant.api.get(f"{BASE}/", params={"unityId": tenant.unit_id})
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["data"]] == [mine["id"]]
    response = await tenant.api.get(f"{BASE}/", params={"unityId": other_unit})
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["data"]] == [theirs["id"]]


async def test_list_filters_by_type(tenant: Tenant) -> None:
    function = await create(tenant)
    response = await tenant.api.get(
        f"{BASE}/", params={"type": "google-calendar", "unityId": tenant.unit_id}
    )
    assert response.status_code == 200
    assert [f["id"] for f in response.json()["data"]] == [function["id"]]


async def test_list_with_unknown_type_is_422(tenant: Tenant) -> None:
    response = await tenant.api.get(f"{BASE}/", params={"type": "calcom"})
    assert error_fields(response) == ["type"]
    assert "google-calendar" in response.json()["errors"][0]["message"]


async def test_list_with_malformed_unity_id_is_422(tenant: Tenant) -> None:
    assert error_fields(await tenant.api.get(f"{BASE}/", params={"unityId": "x"})) == ["unityId"]


async def test_list_of_another_institutions_unit_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    await create(other_tenant)
    response = await tenant.api.get(f"{BASE}/", params={"unityId": other_tenant.unit_id})
    assert_problem(response, 404)


async def test_list_shows_only_the_callers_institution(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await create(tenant)
    await create(other_tenant)
    response = await tenant.api.get(f"{BASE}/")
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["data"]] == [mine["id"]]


async def test_list_paginates_with_a_next_link(tenant: Tenant) -> None:
    created = [(await create(tenant, name=f"Agenda {i}"))["id"] for i in range(3)]
    newest_first = created[::-1]
    response = await tenant.api.get(f"{BASE}/", params={"limit": 2})
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["data"]] == newest_first[:2]
    link = response.headers["link"]
    assert link.endswith('; rel="next"')
    next_url = link[link.index("<") + 1 : link.index(">")]
    assert "page=2" in next_url
    assert "limit=2" in next_url
    response = await tenant.api.get(next_url)
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["data"]] == newest_first[2:]
    assert "link" not in response.headers


async def test_list_link_keeps_the_filters(tenant: Tenant) -> None:
    for i in range(2):
        await create(tenant, name=f"Agenda {i}")
    response = await tenant.api.get(
        f"{BASE}/", params={"unityId": tenant.unit_id, "type": "google-calendar", "limit": 1}
    )
    link = response.headers["link"]
    assert f"unityId={tenant.unit_id}" in link
    assert "type=google-calendar" in link


async def test_list_limit_200_is_allowed(tenant: Tenant) -> None:
    response = await tenant.api.get(f"{BASE}/", params={"limit": 200})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"page": 0}, "page"),
    ],
)
async def test_list_refuses_bad_pagination(
    tenant: Tenant, params: dict[str, Any], field: str
) -> None:
    assert error_fields(await tenant.api.get(f"{BASE}/", params=params)) == [field]


# --- 5. update ------------------------------------------------------------------------------


async def test_put_replaces_the_function(tenant: Tenant) -> None:
    function = await create(tenant)
    body = update_body(
        tenant,
        name="Agenda Dr. Bruno",
        description="Book consultations with Dr. Bruno.",
        googleCalendar={
            "googleId": "200000000000000000002",
            "calendarId": "bruno@clinica-exemplo.com.br",
            "timezone": "Europe/Lisbon",
            "notificationContent": "Booked: {{title}}",
            "googleUser": google_user(email="bruno@clinica-exemplo.com.br", name="Bruno Lima"),
        },
    )
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == FUNCTION_KEYS
    assert updated["id"] == function["id"]
    assert updated["name"] == "Agenda Dr. Bruno"
    assert updated["description"] == "Book consultations with Dr. Bruno."
    plugin = plugin_of(updated)
    assert plugin["id"] == plugin_of(function)["id"]
    assert plugin["pluginId"] == function["id"]
    assert plugin["googleId"] == "200000000000000000002"
    assert plugin["calendarId"] == "bruno@clinica-exemplo.com.br"
    assert plugin["timezone"] == "Europe/Lisbon"
    assert plugin["notificationContent"] == "Booked: {{title}}"
    assert plugin["googleUser"]["email"] == "bruno@clinica-exemplo.com.br"
    assert plugin["googleUser"]["name"] == "Bruno Lima"
    assert re.fullmatch(ISO_MILLIS, plugin["updatedAt"])
    assert plugin["createdAt"] == plugin_of(function)["createdAt"]
    got = await tenant.api.get(f"{BASE}/{function['id']}")
    assert got.json() == updated


async def test_put_without_google_token_keeps_the_stored_one(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=update_body(tenant))
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["googleToken"] == MASK
    assert (await open_secrets(app, function["id"]))["token"] == GOOGLE_ACCESS_TOKEN


async def test_put_with_google_token_replaces_it(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant)
    new_token = "ya29.a0NewTokenAfterReconsent_9xYz"
    body = update_body(tenant, googleCalendar={"googleToken": new_token})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert_no_secret(response, new_token)
    assert (await open_secrets(app, function["id"]))["token"] == new_token


async def test_put_refresh_token_is_kept_when_omitted_and_cleared_by_null(
    app: FastAPI, tenant: Tenant
) -> None:
    function = await create(tenant, googleCalendar={"googleRefreshToken": GOOGLE_REFRESH_TOKEN})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=update_body(tenant))
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["googleRefreshToken"] == MASK
    assert (await open_secrets(app, function["id"]))["refresh"] == GOOGLE_REFRESH_TOKEN

    body = update_body(tenant, googleCalendar={"googleRefreshToken": None})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["googleRefreshToken"] is None
    assert (await open_secrets(app, function["id"]))["refresh"] is None
    assert (await open_secrets(app, function["id"]))["token"] == GOOGLE_ACCESS_TOKEN


async def test_put_cannot_remove_the_last_credential(app: FastAPI, tenant: Tenant) -> None:
    """A function created with only a refresh token must keep some Google credential."""
    function = await create(tenant, googleCalendar={"googleToken": GOOGLE_REFRESH_TOKEN})
    body = update_body(tenant, googleCalendar={"googleRefreshToken": None})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert error_fields(response) == ["googleCalendar.googleToken"]
    assert (await open_secrets(app, function["id"]))["refresh"] == GOOGLE_REFRESH_TOKEN


async def test_put_keeps_google_user_id_and_verified_email(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant)
    body = update_body(tenant)
    body["googleCalendar"]["googleUser"] = {
        k: v
        for k, v in google_user(name="Ana S. Souza").items()
        if k not in {"id", "verified_email"}
    }
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["googleUser"]["name"] == "Ana S. Souza"
    assert set(plugin_of(response.json())["googleUser"]) == {
        "name",
        "given_name",
        "family_name",
        "picture",
        "email",
        "hd",
    }
    plugin = await stored_plugin(app, function["id"])
    assert plugin is not None
    assert plugin.google_user["id"] == "109876543210987654321"
    assert plugin.google_user["verified_email"] is True
    assert plugin.google_user["name"] == "Ana S. Souza"


async def test_put_with_google_user_id_and_verified_email_replaces_them(
    app: FastAPI, tenant: Tenant
) -> None:
    function = await create(tenant)
    body = update_body(tenant)
    body["googleCalendar"]["googleUser"] = google_user(
        id="300000000000000000003", verified_email=False
    )
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    plugin = await stored_plugin(app, function["id"])
    assert plugin is not None
    assert plugin.google_user["id"] == "300000000000000000003"
    assert plugin.google_user["verified_email"] is False


async def test_put_accepts_the_full_create_body(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body_for(tenant))
    assert response.status_code == 200, response.text
    assert (await open_secrets(app, function["id"]))["token"] == GOOGLE_ACCESS_TOKEN


async def test_put_omitted_extensions_keep_their_values(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=CUSTOM_RULES)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=update_body(tenant))
    assert response.status_code == 200, response.text
    plugin = plugin_of(response.json())
    for key, value in CUSTOM_RULES.items():
        assert plugin[key] == value, key


async def test_put_null_extensions_reset_to_defaults(tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=CUSTOM_RULES)
    nulls = dict.fromkeys(CUSTOM_RULES)
    body = update_body(tenant, googleCalendar=nulls)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    plugin = plugin_of(response.json())
    for key in CUSTOM_RULES:
        assert plugin[key] == EXTENSION_DEFAULTS[key], key


async def test_put_changes_extensions(tenant: Tenant) -> None:
    function = await create(tenant)
    body = update_body(tenant, googleCalendar=CUSTOM_RULES)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    plugin = plugin_of(response.json())
    for key, value in CUSTOM_RULES.items():
        assert plugin[key] == value, key


async def test_put_notification_settings_and_target(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant)
    notification = {
        "notificationType": "discord",
        "notificationContentType": "json",
        "notificationContent": '{"text": "{{title}} with {{attendeeName}}"}',
        "notificationDelayMs": 1500,
        "notificationWaitForSpeech": 800,
        "notificationTarget": DISCORD_TARGET,
    }
    body = update_body(tenant, googleCalendar=notification)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    plugin = plugin_of(response.json())
    assert plugin["notificationType"] == "discord"
    assert plugin["notificationContentType"] == "json"
    assert plugin["notificationDelayMs"] == 1500
    assert plugin["notificationWaitForSpeech"] == 800
    assert plugin["notificationTarget"] == MASK
    assert (await open_secrets(app, function["id"]))["target"] == DISCORD_TARGET

    # Omitted: kept. Type switched off and target null: cleared.
    # (The body's text template needs the text content type.)
    text = {"notificationType": "discord", "notificationContentType": "text"}
    body = update_body(tenant, googleCalendar=text)
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["notificationTarget"] == MASK
    body = update_body(
        tenant, googleCalendar={"notificationType": None, "notificationTarget": None}
    )
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert response.status_code == 200, response.text
    assert plugin_of(response.json())["notificationType"] is None
    assert plugin_of(response.json())["notificationTarget"] is None
    assert (await open_secrets(app, function["id"]))["target"] is None


async def test_put_clearing_the_target_of_an_active_notification_is_422(tenant: Tenant) -> None:
    function = await create(
        tenant, googleCalendar={"notificationType": "webhook", "notificationTarget": WEBHOOK_TARGET}
    )
    body = update_body(tenant, googleCalendar={"notificationTarget": None})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert error_fields(response) == ["googleCalendar.notificationTarget"]


async def test_put_switching_type_checks_the_stored_target(tenant: Tenant) -> None:
    function = await create(
        tenant, googleCalendar={"notificationType": "webhook", "notificationTarget": WEBHOOK_TARGET}
    )
    body = update_body(tenant, googleCalendar={"notificationType": "discord"})
    response = await tenant.api.put(f"{BASE}/{function['id']}", json=body)
    assert error_fields(response) == ["googleCalendar.notificationTarget"]
    got = await tenant.api.get(f"{BASE}/{function['id']}")
    assert plugin_of(got.json())["notificationType"] == "webhook"


async def test_put_links_keeps_and_unlinks_a_bot(tenant: Tenant) -> None:
    function = await create(tenant)
    bot_id = await make_bot(tenant)
    url = f"{BASE}/{function['id']}"
    response = await tenant.api.put(url, json=update_body(tenant, botId=bot_id))
    assert response.status_code == 200, response.text
    assert response.json()["botId"] == bot_id
    response = await tenant.api.put(url, json=update_body(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["botId"] == bot_id
    response = await tenant.api.put(url, json=update_body(tenant, botId=None))
    assert response.status_code == 200, response.text
    assert response.json()["botId"] is None
    assert (await tenant.api.get(url)).json()["botId"] is None


async def test_put_sets_is_activated(tenant: Tenant) -> None:
    function = await create(tenant)
    url = f"{BASE}/{function['id']}"
    response = await tenant.api.put(url, json=update_body(tenant, isActivated=False))
    assert response.status_code == 200, response.text
    assert response.json()["isActivated"] is False
    response = await tenant.api.put(url, json=update_body(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["isActivated"] is False
    assert (await tenant.api.get(url)).json()["isActivated"] is False
    response = await tenant.api.put(url, json=update_body(tenant, isActivated=True))
    assert response.status_code == 200, response.text
    assert response.json()["isActivated"] is True


async def test_put_moves_the_function_to_another_unit(tenant: Tenant) -> None:
    other_unit = await make_unit(tenant)
    function = await create(tenant)
    url = f"{BASE}/{function['id']}"
    response = await tenant.api.put(url, json=update_body(tenant, unityId=other_unit))
    assert response.status_code == 200, response.text
    assert response.json()["unityId"] == other_unit


async def test_put_keeping_a_bot_of_the_old_unit_is_422(tenant: Tenant) -> None:
    other_unit = await make_unit(tenant)
    bot_id = await make_bot(tenant)
    function = await create(tenant, botId=bot_id)
    url = f"{BASE}/{function['id']}"
    response = await tenant.api.put(url, json=update_body(tenant, unityId=other_unit))
    assert error_fields(response) == ["botId"]
    assert (await tenant.api.get(url)).json()["unityId"] == tenant.unit_id


async def test_put_unknown_id_is_404(tenant: Tenant) -> None:
    response = await tenant.api.put(f"{BASE}/{uuid.uuid4()}", json=update_body(tenant))
    assert_problem(response, 404)


# --- 6. delete ------------------------------------------------------------------------------


async def test_delete_answers_204_then_404(tenant: Tenant) -> None:
    function = await create(tenant)
    url = f"{BASE}/{function['id']}"
    response = await tenant.api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await tenant.api.get(url), 404)
    assert_problem(await tenant.api.delete(url), 404)
    assert (await tenant.api.get(f"{BASE}/")).json()["data"] == []


async def test_delete_removes_the_plugin_row_and_its_secrets(app: FastAPI, tenant: Tenant) -> None:
    function = await create(tenant, googleCalendar=WITH_SECRETS)
    assert await stored_plugin(app, function["id"]) is not None
    await tenant.api.delete(f"{BASE}/{function['id']}")
    assert await stored_function(app, function["id"]) is None
    assert await stored_plugin(app, function["id"]) is None


async def test_delete_leaves_other_functions(tenant: Tenant) -> None:
    doomed = await create(tenant)
    kept = await create(tenant)
    await tenant.api.delete(f"{BASE}/{doomed['id']}")
    assert (await tenant.api.get(f"{BASE}/{kept['id']}")).json() == kept


# --- 7. duplicate ---------------------------------------------------------------------------


async def test_duplicate_makes_a_switched_off_copy(tenant: Tenant) -> None:
    bot_id = await make_bot(tenant)
    original = await create(
        tenant,
        botId=bot_id,
        color="green",
        outputs=["appointmentId"],
        googleCalendar={**CUSTOM_RULES, **WITH_SECRETS},
    )
    response = await tenant.api.post(f"{BASE}/duplicate/{original['id']}")
    assert response.status_code == 201, response.text
    copy = response.json()
    assert set(copy) == FUNCTION_KEYS
    assert copy["id"] != original["id"]
    assert copy["isActivated"] is False
    same = {
        k: v for k, v in original.items() if k not in {"id", "isActivated", "googleCalendarPlugin"}
    }
    assert {k: copy[k] for k in same} == same
    plugin, source = plugin_of(copy), plugin_of(original)
    assert plugin["id"] != source["id"]
    assert plugin["pluginId"] == copy["id"]
    ignored = {"id", "pluginId", "createdAt", "updatedAt", "notificationSecret"}
    assert {k: v for k, v in plugin.items() if k not in ignored} == {
        k: v for k, v in source.items() if k not in ignored
    }
    assert re.fullmatch(ISO_MILLIS, plugin["createdAt"])
    # One signing secret per function: the copy's own, shown in its answer only.
    if source["notificationType"] == "webhook":
        assert plugin["notificationSecret"].startswith("whsec_")
        assert plugin["notificationSecret"] != source["notificationSecret"]


async def test_duplicate_is_listed_and_readable(tenant: Tenant) -> None:
    original = await create(tenant)
    copy = (await tenant.api.post(f"{BASE}/duplicate/{original['id']}")).json()
    assert (await tenant.api.get(f"{BASE}/{copy['id']}")).json() == copy
    listed = (await tenant.api.get(f"{BASE}/")).json()["data"]
    assert [f["id"] for f in listed] == [copy["id"], original["id"]]


async def test_duplicate_reseals_the_secrets_for_the_copy(app: FastAPI, tenant: Tenant) -> None:
    original = await create(tenant, googleCalendar=WITH_SECRETS)
    copy = (await tenant.api.post(f"{BASE}/duplicate/{original['id']}")).json()
    assert await open_secrets(app, copy["id"]) == await open_secrets(app, original["id"])
    assert await open_secrets(app, copy["id"]) == {
        "token": GOOGLE_ACCESS_TOKEN,
        "refresh": GOOGLE_REFRESH_TOKEN,
        "target": WEBHOOK_TARGET,
    }
    source_row = await stored_plugin(app, original["id"])
    copy_row = await stored_plugin(app, copy["id"])
    assert source_row is not None
    assert copy_row is not None
    assert copy_row.google_token_ciphertext != source_row.google_token_ciphertext


async def test_duplicate_survives_the_originals_deletion(app: FastAPI, tenant: Tenant) -> None:
    original = await create(tenant, googleCalendar=WITH_SECRETS)
    copy = (await tenant.api.post(f"{BASE}/duplicate/{original['id']}")).json()
    await tenant.api.delete(f"{BASE}/{original['id']}")
    assert (await tenant.api.get(f"{BASE}/{copy['id']}")).status_code == 200
    assert (await open_secrets(app, copy["id"]))["token"] == GOOGLE_ACCESS_TOKEN


async def test_duplicate_of_unknown_id_is_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.post(f"{BASE}/duplicate/{uuid.uuid4()}"), 404)


# --- 9. references --------------------------------------------------------------------------


async def test_create_with_another_institutions_user_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await tenant.api.post(f"{BASE}/", json=body_for(tenant, userId=other_tenant.user_id))
    assert_problem(response, 404)
    assert (await tenant.api.get(f"{BASE}/")).json()["data"] == []


async def test_create_with_another_institutions_unit_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await tenant.api.post(
        f"{BASE}/", json=body_for(tenant, unityId=other_tenant.unit_id)
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("field", ["userId", "unityId"])
async def test_create_with_unknown_reference_is_404(tenant: Tenant, field: str) -> None:
    response = await tenant.api.post(
        f"{BASE}/", json=body_for(tenant, **{field: str(uuid.uuid4())})
    )
    assert_problem(response, 404)


async def test_create_with_a_bot_of_another_unit_is_422(tenant: Tenant) -> None:
    other_unit = await make_unit(tenant)
    bot_id = await make_bot(tenant, other_unit)
    response = await tenant.api.post(f"{BASE}/", json=body_for(tenant, botId=bot_id))
    assert error_fields(response) == ["botId"]


async def test_create_with_another_institutions_bot_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    bot_id = await make_bot(other_tenant)
    response = await tenant.api.post(f"{BASE}/", json=body_for(tenant, botId=bot_id))
    assert_problem(response, 404)


async def test_put_with_a_bot_of_another_unit_is_422(tenant: Tenant) -> None:
    function = await create(tenant)
    bot_id = await make_bot(tenant, await make_unit(tenant))
    response = await tenant.api.put(
        f"{BASE}/{function['id']}", json=update_body(tenant, botId=bot_id)
    )
    assert error_fields(response) == ["botId"]


async def test_put_with_another_institutions_references_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    function = await create(tenant)
    url = f"{BASE}/{function['id']}"
    foreign_bot = await make_bot(other_tenant)
    for overrides in (
        {"userId": other_tenant.user_id},
        {"unityId": other_tenant.unit_id},
        {"botId": foreign_bot},
    ):
        assert_problem(await tenant.api.put(url, json=update_body(tenant, **overrides)), 404)
    assert (await tenant.api.get(url)).json() == function


# --- 10. cross-institution ------------------------------------------------------------------


async def test_other_institution_cannot_see_or_touch_a_function(
    app: FastAPI, tenant: Tenant, other_tenant: Tenant
) -> None:
    function = await create(tenant, googleCalendar=WITH_SECRETS)
    url = f"{BASE}/{function['id']}"
    api = other_tenant.api
    assert_problem(await api.get(url), 404)
    assert_problem(await api.put(url, json=update_body(other_tenant)), 404)
    assert_problem(await api.delete(url), 404)
    assert_problem(await api.post(f"{BASE}/duplicate/{function['id']}"), 404)
    assert (await api.get(f"{BASE}/")).json()["data"] == []

    shown = (await tenant.api.get(url)).json()
    # The signing secret was shown in clear once, by the answer that made it.
    assert plugin_of(shown).pop("notificationSecret") == "whsec_" + MASK
    assert plugin_of(function).pop("notificationSecret").startswith("whsec_")
    assert shown == function
    assert len((await tenant.api.get(f"{BASE}/")).json()["data"]) == 1
    assert await open_secrets(app, function["id"]) == {
        "token": GOOGLE_ACCESS_TOKEN,
        "refresh": GOOGLE_REFRESH_TOKEN,
        "target": WEBHOOK_TARGET,
    }


async def test_foreign_id_answers_like_a_missing_id(tenant: Tenant, other_tenant: Tenant) -> None:
    function = await create(tenant)
    foreign = await other_tenant.api.get(f"{BASE}/{function['id']}")
    missing = await other_tenant.api.get(f"{BASE}/{uuid.uuid4()}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["type"] == missing.json()["type"]
    assert foreign.json()["title"] == missing.json()["title"]


# --- 11. bots -------------------------------------------------------------------------------


async def test_deleting_a_bot_unlinks_its_functions(tenant: Tenant) -> None:
    bot_id = await make_bot(tenant)
    linked = await create(tenant, botId=bot_id)
    other = await create(tenant)
    response = await tenant.api.delete(f"/api/v1/bots/{bot_id}")
    assert response.status_code == 204
    got = await tenant.api.get(f"{BASE}/{linked['id']}")
    assert got.status_code == 200
    assert got.json()["botId"] is None
    assert {k: v for k, v in got.json().items() if k != "botId"} == {
        k: v for k, v in linked.items() if k != "botId"
    }
    assert (await tenant.api.get(f"{BASE}/{other['id']}")).json() == other
