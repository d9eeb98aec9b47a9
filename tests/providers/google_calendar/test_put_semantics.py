"""Blank optional strings mean "not set"; every applied PUT moves `updatedAt`."""

from __future__ import annotations

import asyncio

from tests.factories import Tenant, google_function_body, google_user


async def test_blank_optional_strings_are_read_as_not_set(tenant: Tenant) -> None:
    body = google_function_body(
        tenant.user_id,
        tenant.unit_id,
        googleCalendar={
            "calendarId": "",
            "notificationContent": "  ",
            "notificationTarget": "",
            "googleUser": google_user(hd="", picture=""),
        },
    )
    response = await tenant.api.post("/api/v1/functions/", json=body)
    assert response.status_code == 201, response.text
    plugin = response.json()["googleCalendarPlugin"][0]
    assert plugin["calendarId"] == body["googleCalendar"]["googleUser"]["email"]
    assert plugin["notificationContent"] is None
    assert plugin["notificationTarget"] is None
    assert plugin["googleUser"]["hd"] is None
    assert plugin["googleUser"]["picture"] is None


async def test_a_bot_description_left_blank_is_null(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Reception", "unitId": tenant.unit_id, "description": ""}
    )
    assert response.status_code == 201
    assert response.json()["description"] is None


async def test_changing_only_the_name_moves_the_plugins_updated_at(tenant: Tenant) -> None:
    body = google_function_body(tenant.user_id, tenant.unit_id)
    created = (await tenant.api.post("/api/v1/functions/", json=body)).json()
    await asyncio.sleep(0.005)
    body["name"] = "Renamed"
    updated = (await tenant.api.put(f"/api/v1/functions/{created['id']}", json=body)).json()
    before, after = created["googleCalendarPlugin"][0], updated["googleCalendarPlugin"][0]
    assert after["updatedAt"] > before["updatedAt"]
    assert after["createdAt"] == before["createdAt"]


async def test_a_put_that_changes_nothing_still_moves_updated_at(tenant: Tenant) -> None:
    body = google_function_body(tenant.user_id, tenant.unit_id)
    created = (await tenant.api.post("/api/v1/functions/", json=body)).json()
    await asyncio.sleep(0.005)
    updated = (await tenant.api.put(f"/api/v1/functions/{created['id']}", json=body)).json()
    assert (
        updated["googleCalendarPlugin"][0]["updatedAt"]
        > created["googleCalendarPlugin"][0]["updatedAt"]
    )
