"""`/api/v1/bots`: bots of a unit, and how integrations and functions link to them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Tenant, add_member, calcom_body, google_function_body
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"
BOT_KEYS = {"id", "unitId", "name", "description", "language", "createdAt", "updatedAt"}
ISO_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= problem.keys()
    return problem


async def create_bot(tenant: Tenant, unit_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"name": "Receptionist", "unitId": unit_id or tenant.unit_id, **extra}
    response = await tenant.api.post("/api/v1/bots", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def create_unit(tenant: Tenant, name: str) -> str:
    response = await tenant.api.post("/api/v1/units", json={"name": name})
    assert response.status_code == 201, response.text
    unit_id: str = response.json()["id"]
    return unit_id


async def create_integration(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await tenant.api.post(
        "/api/v1/calcom/integration", json=calcom_body(tenant.unit_id, **overrides)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def create_function(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await tenant.api.post(
        "/api/v1/functions/",
        json=google_function_body(tenant.user_id, tenant.unit_id, **overrides),
    )
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- create and read


async def test_create_bot_returns_201_with_the_bot(tenant: Tenant) -> None:
    bot = await create_bot(tenant, description="  Answers the clinic's phone.  ")
    assert set(bot) == BOT_KEYS
    uuid.UUID(bot["id"])
    assert bot["unitId"] == tenant.unit_id
    assert bot["name"] == "Receptionist"
    assert bot["description"] == "Answers the clinic's phone."
    assert ISO_MILLIS.fullmatch(bot["createdAt"])
    assert ISO_MILLIS.fullmatch(bot["updatedAt"])


async def test_description_is_optional(tenant: Tenant) -> None:
    bot = await create_bot(tenant)
    assert bot["description"] is None


async def test_get_bot_returns_the_created_bot(tenant: Tenant) -> None:
    bot = await create_bot(tenant, description="Front desk")
    response = await tenant.api.get(f"/api/v1/bots/{bot['id']}")
    assert response.status_code == 200
    assert response.json() == bot


async def test_get_unknown_bot_is_404(tenant: Tenant) -> None:
    missing = uuid.uuid4()
    problem = assert_problem(await tenant.api.get(f"/api/v1/bots/{missing}"), 404)
    assert str(missing) in problem["detail"]


async def test_malformed_bot_id_is_422_naming_id(tenant: Tenant) -> None:
    problem = assert_problem(await tenant.api.get("/api/v1/bots/bot-1"), 422)
    assert [e["field"] for e in problem["errors"]] == ["id"]


async def test_members_manage_bots(app: FastAPI, tenant: Tenant) -> None:
    _, token = await add_member(app, tenant, "builder@acme.test")
    async with tenant.client(token) as member:
        created = await member.post(
            "/api/v1/bots", json={"name": "Voice", "unitId": tenant.unit_id}
        )
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        assert (await member.get(f"/api/v1/bots/{bot_id}")).status_code == 200
        updated = await member.put(
            f"/api/v1/bots/{bot_id}", json={"name": "Voice 2", "unitId": tenant.unit_id}
        )
        assert updated.status_code == 200
        assert (await member.delete(f"/api/v1/bots/{bot_id}")).status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bot", "unityId": "{unit}"}, "unityId"),
        ({"name": "Bot", "unitId": "{unit}", "prompt": "x"}, "prompt"),
        ({"unitId": "{unit}"}, "name"),
        ({"name": "", "unitId": "{unit}"}, "name"),
        ({"name": "   ", "unitId": "{unit}"}, "name"),
        ({"name": "x" * 121, "unitId": "{unit}"}, "name"),
        ({"name": "Bot"}, "unitId"),
        ({"name": "Bot", "unitId": "sales"}, "unitId"),
        ({"name": "Bot", "unitId": "{unit}", "description": 7}, "description"),
        ({"name": "Bot", "unitId": "{unit}", "description": "x" * 4001}, "description"),
    ],
)
async def test_create_bot_validation_is_422_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    body = {k: v.format(unit=tenant.unit_id) if isinstance(v, str) else v for k, v in body.items()}
    problem = assert_problem(await tenant.api.post("/api/v1/bots", json=body), 422)
    assert field in {e["field"] for e in problem["errors"]}
    assert (await tenant.api.get("/api/v1/bots")).json()["data"] == []


async def test_unity_id_mix_up_is_explained(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Bot", "unityId": tenant.unit_id}
    )
    problem = assert_problem(response, 422)
    message = next(e["message"] for e in problem["errors"] if e["field"] == "unityId")
    assert "unitId" in message


async def test_create_bot_in_unknown_unit_is_404(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Bot", "unitId": str(uuid.uuid4())}
    )
    assert_problem(response, 404)


async def test_create_bot_with_unit_of_another_institution_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await tenant.api.post(
        "/api/v1/bots", json={"name": "Bot", "unitId": other_tenant.unit_id}
    )
    assert_problem(response, 404)
    assert (await other_tenant.api.get("/api/v1/bots")).json()["data"] == []
    assert (await tenant.api.get("/api/v1/bots")).json()["data"] == []


# ---------------------------------------------------------------- list


async def test_list_bots_newest_first_and_filtered_by_unit(tenant: Tenant) -> None:
    north = await create_unit(tenant, "North")
    first = await create_bot(tenant, name="First")
    second = await create_bot(tenant, north, name="Second")
    third = await create_bot(tenant, name="Third")

    everything = await tenant.api.get("/api/v1/bots")
    assert everything.status_code == 200
    assert [b["id"] for b in everything.json()["data"]] == [third["id"], second["id"], first["id"]]
    for bot in everything.json()["data"]:
        assert set(bot) == BOT_KEYS

    sales = await tenant.api.get("/api/v1/bots", params={"unitId": tenant.unit_id})
    assert sales.status_code == 200
    assert [b["id"] for b in sales.json()["data"]] == [third["id"], first["id"]]

    in_north = await tenant.api.get("/api/v1/bots", params={"unitId": north})
    assert [b["id"] for b in in_north.json()["data"]] == [second["id"]]


async def test_list_bots_of_empty_unit_is_empty(tenant: Tenant) -> None:
    await create_bot(tenant)
    empty = await create_unit(tenant, "Empty")
    response = await tenant.api.get("/api/v1/bots", params={"unitId": empty})
    assert response.status_code == 200
    assert response.json() == {"data": []}


async def test_list_bots_of_unknown_unit_is_404(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/v1/bots", params={"unitId": str(uuid.uuid4())})
    assert_problem(response, 404)


async def test_list_bots_of_another_institutions_unit_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    await create_bot(other_tenant)
    response = await tenant.api.get("/api/v1/bots", params={"unitId": other_tenant.unit_id})
    assert_problem(response, 404)


async def test_list_bots_with_malformed_unit_id_is_422(tenant: Tenant) -> None:
    problem = assert_problem(await tenant.api.get("/api/v1/bots?unitId=sales"), 422)
    assert [e["field"] for e in problem["errors"]] == ["unitId"]


async def test_list_bots_shows_only_the_callers_institution(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await create_bot(tenant)
    await create_bot(other_tenant)
    listed = (await tenant.api.get("/api/v1/bots")).json()["data"]
    assert [b["id"] for b in listed] == [mine["id"]]


# ---------------------------------------------------------------- update


async def test_put_updates_name_and_description(tenant: Tenant) -> None:
    bot = await create_bot(tenant, description="Old")
    response = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}",
        json={"name": " Front desk ", "unitId": tenant.unit_id, "description": "New"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert set(updated) == BOT_KEYS
    assert updated["id"] == bot["id"]
    assert updated["name"] == "Front desk"
    assert updated["description"] == "New"
    assert updated["createdAt"] == bot["createdAt"]
    assert updated["updatedAt"] >= bot["updatedAt"]
    assert (await tenant.api.get(f"/api/v1/bots/{bot['id']}")).json() == updated


async def test_put_without_description_keeps_it_and_null_clears_it(tenant: Tenant) -> None:
    bot = await create_bot(tenant, description="Keep me")
    kept = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": "Renamed", "unitId": tenant.unit_id}
    )
    assert kept.json()["description"] == "Keep me"
    cleared = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}",
        json={"name": "Renamed", "unitId": tenant.unit_id, "description": None},
    )
    assert cleared.json()["description"] is None


async def test_put_unknown_bot_is_404(tenant: Tenant) -> None:
    response = await tenant.api.put(
        f"/api/v1/bots/{uuid.uuid4()}", json={"name": "Bot", "unitId": tenant.unit_id}
    )
    assert_problem(response, 404)


async def test_put_validation_is_422(tenant: Tenant) -> None:
    bot = await create_bot(tenant)
    response = await tenant.api.put(f"/api/v1/bots/{bot['id']}", json={"name": "Only name"})
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {"unitId"}


async def test_move_bot_without_links_to_another_unit(tenant: Tenant) -> None:
    north = await create_unit(tenant, "North")
    bot = await create_bot(tenant)
    response = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": bot["name"], "unitId": north}
    )
    assert response.status_code == 200, response.text
    assert response.json()["unitId"] == north
    listed = await tenant.api.get("/api/v1/bots", params={"unitId": north})
    assert [b["id"] for b in listed.json()["data"]] == [bot["id"]]


async def test_move_bot_to_unit_of_another_institution_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    bot = await create_bot(tenant)
    response = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": bot["name"], "unitId": other_tenant.unit_id}
    )
    assert_problem(response, 404)
    assert (await tenant.api.get(f"/api/v1/bots/{bot['id']}")).json() == bot


async def test_move_bot_to_unknown_unit_is_404(tenant: Tenant) -> None:
    bot = await create_bot(tenant)
    response = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": bot["name"], "unitId": str(uuid.uuid4())}
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("linked", ["function", "integration", "both"])
async def test_moving_a_bot_with_linked_functions_or_integrations_is_409(
    tenant: Tenant, linked: str
) -> None:
    north = await create_unit(tenant, "North")
    bot = await create_bot(tenant)
    if linked in ("function", "both"):
        await create_function(tenant, botId=bot["id"])
    if linked in ("integration", "both"):
        await create_integration(tenant, botId=bot["id"])

    response = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": "Moved", "unitId": north}
    )
    problem = assert_problem(response, 409)
    assert "unlink" in problem["detail"]
    # Nothing changed, not even the name sent with the refused move.
    assert (await tenant.api.get(f"/api/v1/bots/{bot['id']}")).json() == bot

    # Renaming in place stays allowed.
    renamed = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": "Renamed", "unitId": tenant.unit_id}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"


async def test_bot_moves_once_its_links_are_removed(tenant: Tenant) -> None:
    north = await create_unit(tenant, "North")
    bot = await create_bot(tenant)
    integration = await create_integration(tenant, botId=bot["id"])
    blocked = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": bot["name"], "unitId": north}
    )
    assert blocked.status_code == 409

    unlinked = await tenant.api.put(
        f"/api/v1/calcom/integration/{integration['id']}",
        json={
            **{k: v for k, v in calcom_body(tenant.unit_id).items() if k != "apiKey"},
            "botId": None,
        },
    )
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["botId"] is None

    moved = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": bot["name"], "unitId": north}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["unitId"] == north


async def test_linking_a_bot_of_another_unit_is_422(tenant: Tenant) -> None:
    north = await create_unit(tenant, "North")
    bot = await create_bot(tenant, north)
    response = await tenant.api.post(
        "/api/v1/calcom/integration", json=calcom_body(tenant.unit_id, botId=bot["id"])
    )
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["botId"]

    response = await tenant.api.post(
        "/api/v1/functions/",
        json=google_function_body(tenant.user_id, tenant.unit_id, botId=bot["id"]),
    )
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["botId"]


# ---------------------------------------------------------------- delete


async def test_delete_bot_is_204_and_then_404(tenant: Tenant) -> None:
    bot = await create_bot(tenant)
    response = await tenant.api.delete(f"/api/v1/bots/{bot['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await tenant.api.get(f"/api/v1/bots/{bot['id']}"), 404)
    assert_problem(await tenant.api.delete(f"/api/v1/bots/{bot['id']}"), 404)
    assert (await tenant.api.get("/api/v1/bots")).json()["data"] == []


async def test_delete_unknown_bot_is_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.delete(f"/api/v1/bots/{uuid.uuid4()}"), 404)


async def test_deleting_a_bot_unlinks_but_keeps_its_integrations_and_functions(
    tenant: Tenant,
) -> None:
    bot = await create_bot(tenant)
    other_bot = await create_bot(tenant, name="Other")
    integration = await create_integration(tenant, botId=bot["id"])
    function = await create_function(tenant, botId=bot["id"])
    unrelated = await create_function(tenant, botId=other_bot["id"], name="Other calendar")
    assert integration["botId"] == bot["id"]
    assert function["botId"] == bot["id"]

    assert (await tenant.api.delete(f"/api/v1/bots/{bot['id']}")).status_code == 204

    kept_integration = await tenant.api.get(f"/api/v1/calcom/integration/{integration['id']}")
    assert kept_integration.status_code == 200
    assert kept_integration.json()["botId"] is None
    unchanged = {k: v for k, v in integration.items() if k not in {"botId", "updatedAt"}}
    assert {k: v for k, v in kept_integration.json().items() if k in unchanged} == unchanged

    kept_function = await tenant.api.get(f"/api/v1/functions/{function['id']}")
    assert kept_function.status_code == 200
    assert kept_function.json()["botId"] is None
    assert kept_function.json()["name"] == function["name"]
    assert kept_function.json()["googleCalendarPlugin"] == function["googleCalendarPlugin"]

    listed = await tenant.api.get(f"/api/v1/calcom/integration/unit/{tenant.unit_id}")
    assert [i["id"] for i in listed.json()["data"]] == [integration["id"]]
    functions = await tenant.api.get("/api/v1/functions/", params={"unityId": tenant.unit_id})
    assert {f["id"] for f in functions.json()["data"]} == {function["id"], unrelated["id"]}

    # Another bot's links are untouched.
    still = await tenant.api.get(f"/api/v1/functions/{unrelated['id']}")
    assert still.json()["botId"] == other_bot["id"]


async def test_unlinked_function_can_be_linked_to_a_new_bot(tenant: Tenant) -> None:
    bot = await create_bot(tenant)
    function = await create_function(tenant, botId=bot["id"])
    assert (await tenant.api.delete(f"/api/v1/bots/{bot['id']}")).status_code == 204

    new_bot = await create_bot(tenant, name="Successor")
    body = google_function_body(tenant.user_id, tenant.unit_id, botId=new_bot["id"])
    relinked = await tenant.api.put(f"/api/v1/functions/{function['id']}", json=body)
    assert relinked.status_code == 200, relinked.text
    assert relinked.json()["botId"] == new_bot["id"]


# ------------------------------------------------------------------------ language


async def test_a_bot_speaks_english_by_default_and_keeps_its_language_when_left_out(
    tenant: Tenant,
) -> None:
    bot = await create_bot(tenant)
    assert bot["language"] == "en"
    body = {"name": "Clínica", "unitId": tenant.unit_id, "language": "pt-BR"}
    changed = await tenant.api.put(f"/api/v1/bots/{bot['id']}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == "pt-BR"
    renamed = await tenant.api.put(
        f"/api/v1/bots/{bot['id']}", json={"name": "Clínica 2", "unitId": tenant.unit_id}
    )
    assert renamed.json()["language"] == "pt-BR"


async def test_a_language_agentcal_does_not_speak_is_a_422_naming_the_choices(
    tenant: Tenant,
) -> None:
    body = {"name": "Bot", "unitId": tenant.unit_id, "language": "fr"}
    response = await tenant.api.post("/api/v1/bots", json=body)
    assert response.status_code == 422
    assert "pt-BR" in response.text
    assert (await tenant.api.get("/api/v1/bots")).json()["data"] == []
