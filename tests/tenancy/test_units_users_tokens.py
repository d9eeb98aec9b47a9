"""Units, users and access tokens: `/api/v1/units`, `/api/v1/users`, `/api/v1/access-tokens`."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Tenant, add_member
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"
ISO_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UNIT_KEYS = {"id", "institutionId", "name", "createdAt", "updatedAt"}
USER_KEYS = {"id", "institutionId", "email", "name", "role", "createdAt", "updatedAt"}
TOKEN_KEYS = {"id", "userId", "name", "prefix", "createdAt", "expiresAt", "revokedAt"}


def parse_iso(value: str) -> datetime:
    assert ISO_MILLIS.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= problem.keys()
    return problem


def error_fields(response: httpx.Response) -> set[str]:
    problem = assert_problem(response, 422)
    assert problem["errors"], problem
    return {e["field"] for e in problem["errors"]}


@dataclass
class Member:
    id: str
    api: httpx.AsyncClient


@pytest.fixture
async def member(app: FastAPI, tenant: Tenant) -> AsyncIterator[Member]:
    """A `member` of `tenant`'s institution, with its own token."""
    user, token = await add_member(app, tenant, "member@acme.test")
    async with tenant.client(token) as client:
        yield Member(str(user.id), client)


# ---------------------------------------------------------------- units


async def test_list_units_shows_the_bootstrap_unit(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/v1/units")
    assert response.status_code == 200
    units = response.json()["data"]
    assert [u["id"] for u in units] == [tenant.unit_id]
    assert set(units[0]) == UNIT_KEYS
    assert units[0]["name"] == "Sales"
    assert units[0]["institutionId"] == tenant.institution_id


async def test_create_unit_returns_201_and_it_is_listed_and_readable(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/units", json={"name": "  Marketing  "})
    assert created.status_code == 201, created.text
    unit = created.json()
    assert set(unit) == UNIT_KEYS
    assert unit["name"] == "Marketing"  # trimmed
    assert unit["institutionId"] == tenant.institution_id
    uuid.UUID(unit["id"])
    parse_iso(unit["createdAt"])
    parse_iso(unit["updatedAt"])

    read = await tenant.api.get(f"/api/v1/units/{unit['id']}")
    assert read.status_code == 200
    assert read.json() == unit

    listed = (await tenant.api.get("/api/v1/units")).json()["data"]
    assert [u["id"] for u in listed] == [tenant.unit_id, unit["id"]]


async def test_get_unknown_unit_is_404(tenant: Tenant) -> None:
    missing = uuid.uuid4()
    problem = assert_problem(await tenant.api.get(f"/api/v1/units/{missing}"), 404)
    assert str(missing) in problem["detail"]


async def test_get_unit_with_malformed_id_is_422(tenant: Tenant) -> None:
    assert error_fields(await tenant.api.get("/api/v1/units/not-a-uuid")) == {"id"}


async def test_duplicate_unit_name_is_409(tenant: Tenant) -> None:
    problem = assert_problem(await tenant.api.post("/api/v1/units", json={"name": "Sales"}), 409)
    assert "Sales" in problem["detail"]
    # Trimming makes " Sales " the same name.
    assert_problem(await tenant.api.post("/api/v1/units", json={"name": " Sales "}), 409)
    assert len((await tenant.api.get("/api/v1/units")).json()["data"]) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v1/units", {"name": "Racing"}), ("/api/v1/users", {"email": "race@acme.test"})],
)
async def test_concurrent_duplicates_give_one_201_and_409s_never_500(
    tenant: Tenant, path: str, body: dict[str, Any]
) -> None:
    # Every request passes the "does it exist?" check before any commits; the unique
    # constraint then decides, and the losers must hear 409, not a server error.
    for attempt in range(3):
        responses = await asyncio.gather(*(tenant.api.post(path, json=body) for _ in range(5)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == ([201] if attempt == 0 else [409]) + [409] * 4
        for response in responses:
            if response.status_code == 409:
                assert assert_problem(response, 409)["title"] == "Conflict"
    ((key, value),) = body.items()
    listed = (await tenant.api.get(path)).json()["data"]
    assert [item[key] for item in listed].count(value) == 1


async def test_same_unit_name_in_another_institution_is_allowed(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await other_tenant.api.post("/api/v1/units", json={"name": "Sales"})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "North", "unitName": "x"}, "unitName"),
        ({"name": "North", "institutionId": str(uuid.uuid4())}, "institutionId"),
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": 5}, "name"),
        ({"name": "bad\u0000name"}, "name"),
    ],
)
async def test_create_unit_validation_is_422_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await tenant.api.post("/api/v1/units", json=body)
    assert field in error_fields(response)


async def test_create_unit_with_non_object_body_is_4xx_not_500(tenant: Tenant) -> None:
    for content in (b"[]", b"null", b'"Sales"', b"{not json"):
        response = await tenant.api.post(
            "/api/v1/units", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code in {400, 422}, (content, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


# ---------------------------------------------------------------- users


async def test_list_users_shows_the_bootstrap_admin(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/v1/users")
    assert response.status_code == 200
    users = response.json()["data"]
    assert len(users) == 1
    assert set(users[0]) == USER_KEYS
    assert users[0]["id"] == tenant.user_id
    assert users[0]["email"] == tenant.email
    assert users[0]["role"] == "admin"


async def test_create_user_defaults_to_member_and_is_readable(tenant: Tenant) -> None:
    created = await tenant.api.post(
        "/api/v1/users", json={"email": "  Bia.Lima@Acme.test ", "name": "Bia Lima"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == USER_KEYS
    assert user["email"] == "bia.lima@acme.test"
    assert user["name"] == "Bia Lima"
    assert user["role"] == "member"
    assert user["institutionId"] == tenant.institution_id

    read = await tenant.api.get(f"/api/v1/users/{user['id']}")
    assert read.status_code == 200
    assert read.json() == user
    listed = (await tenant.api.get("/api/v1/users")).json()["data"]
    assert [u["id"] for u in listed] == [tenant.user_id, user["id"]]


async def test_create_admin_user_and_without_name(tenant: Tenant) -> None:
    created = await tenant.api.post(
        "/api/v1/users", json={"email": "boss@acme.test", "role": "admin"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    assert created.json()["name"] is None


async def test_get_unknown_user_is_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.get(f"/api/v1/users/{uuid.uuid4()}"), 404)


async def test_duplicate_user_email_is_409_case_insensitively(tenant: Tenant) -> None:
    first = await tenant.api.post("/api/v1/users", json={"email": "ana@acme.test"})
    assert first.status_code == 201
    for email in ("ana@acme.test", "ANA@Acme.Test", tenant.email):
        assert_problem(await tenant.api.post("/api/v1/users", json={"email": email}), 409)
    assert len((await tenant.api.get("/api/v1/users")).json()["data"]) == 2


async def test_same_email_in_another_institution_is_allowed(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await other_tenant.api.post("/api/v1/users", json={"email": tenant.email})
    assert created.status_code == 201, created.text
    assert created.json()["institutionId"] == other_tenant.institution_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ana@acme.test", "unitId": str(uuid.uuid4())}, "unitId"),
        ({"email": "ana@acme.test", "password": "x"}, "password"),
        ({}, "email"),
        ({"email": ""}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "ana@acme"}, "email"),
        ({"email": "ana @acme.test"}, "email"),
        ({"email": "a@b@acme.test"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "ana@acme.test", "role": "owner"}, "role"),
        ({"email": "ana@acme.test", "role": "Admin"}, "role"),
        ({"email": "ana@acme.test", "role": ""}, "role"),
        ({"email": "ana@acme.test", "role": None}, "role"),
        ({"email": "ana@acme.test", "name": ""}, "name"),
    ],
)
async def test_create_user_validation_is_422_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await tenant.api.post("/api/v1/users", json=body)
    assert field in error_fields(response)


async def test_me_answers_for_admin_and_member(tenant: Tenant, member: Member) -> None:
    admin_me = await tenant.api.get("/api/v1/users/me")
    assert admin_me.status_code == 200
    assert set(admin_me.json()) == USER_KEYS
    assert admin_me.json()["id"] == tenant.user_id
    assert admin_me.json()["role"] == "admin"

    member_me = await member.api.get("/api/v1/users/me")
    assert member_me.status_code == 200
    assert member_me.json()["id"] == member.id
    assert member_me.json()["role"] == "member"
    assert member_me.json()["email"] == "member@acme.test"
    assert member_me.json()["institutionId"] == tenant.institution_id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/units", None),
        ("POST", "/api/v1/units", {"name": "North"}),
        ("GET", "/api/v1/units/{unit}", None),
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@acme.test"}),
        ("GET", "/api/v1/users/{user}", None),
    ],
)
async def test_members_get_403_on_units_and_users(
    tenant: Tenant,
    member: Member,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    path = path.format(unit=tenant.unit_id, user=tenant.user_id)
    response = await member.api.request(method, path, json=body)
    problem = assert_problem(response, 403)
    assert problem["title"] == "Forbidden"
    # Nothing was created.
    assert [u["name"] for u in (await tenant.api.get("/api/v1/units")).json()["data"]] == ["Sales"]
    assert len((await tenant.api.get("/api/v1/users")).json()["data"]) == 2


async def test_user_created_as_admin_can_manage_units(app: FastAPI, tenant: Tenant) -> None:
    created = await tenant.api.post(
        "/api/v1/users", json={"email": "second-admin@acme.test", "role": "admin"}
    )
    issued = await tenant.api.post(
        "/api/v1/access-tokens", json={"name": "admin2", "userId": created.json()["id"]}
    )
    async with tenant.client(issued.json()["token"]) as second:
        response = await second.post("/api/v1/units", json={"name": "North"})
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- access tokens


async def test_create_token_returns_the_token_once(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/access-tokens", json={"name": "ci"})
    assert created.status_code == 201, created.text
    issued = created.json()
    assert set(issued) == TOKEN_KEYS | {"token"}
    assert issued["name"] == "ci"
    assert issued["userId"] == tenant.user_id
    assert issued["expiresAt"] is None
    assert issued["revokedAt"] is None
    assert issued["token"].startswith(issued["prefix"])
    parse_iso(issued["createdAt"])

    listing = await tenant.api.get("/api/v1/access-tokens")
    assert listing.status_code == 200
    tokens = listing.json()["data"]
    for token in tokens:
        assert set(token) == TOKEN_KEYS
        assert "token" not in token
    assert issued["token"] not in listing.text
    listed = {t["id"]: t for t in tokens}[issued["id"]]
    assert listed == {k: v for k, v in issued.items() if k != "token"}

    async with tenant.client(issued["token"]) as ci:
        assert (await ci.get("/api/v1/users/me")).json()["id"] == tenant.user_id


async def test_create_token_defaults(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/access-tokens", json={})
    assert created.status_code == 201, created.text
    assert created.json()["name"]
    assert created.json()["expiresAt"] is None


async def test_member_lists_only_own_tokens_admin_lists_the_institutions(
    app: FastAPI, tenant: Tenant, other_tenant: Tenant, member: Member
) -> None:
    member_id = member.id
    own = await member.api.post("/api/v1/access-tokens", json={"name": "member-laptop"})
    assert own.status_code == 201, own.text
    admin_extra = await tenant.api.post("/api/v1/access-tokens", json={"name": "admin-ci"})
    await other_tenant.api.post("/api/v1/access-tokens", json={"name": "globex-ci"})

    member_list = (await member.api.get("/api/v1/access-tokens")).json()["data"]
    assert {t["userId"] for t in member_list} == {member_id}
    assert {t["name"] for t in member_list} == {"member", "member-laptop"}

    admin_list = (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
    assert {t["userId"] for t in admin_list} == {tenant.user_id, member_id}
    assert {t["name"] for t in admin_list} == {"bootstrap", "admin-ci", "member", "member-laptop"}
    assert admin_extra.json()["id"] in {t["id"] for t in admin_list}

    other_list = (await other_tenant.api.get("/api/v1/access-tokens")).json()["data"]
    assert {t["name"] for t in other_list} == {"bootstrap", "globex-ci"}


async def test_revoke_token_is_204_and_listing_shows_revoked_at(tenant: Tenant) -> None:
    issued = (await tenant.api.post("/api/v1/access-tokens", json={"name": "old"})).json()
    before = datetime.now(UTC)
    response = await tenant.api.delete(f"/api/v1/access-tokens/{issued['id']}")
    assert response.status_code == 204
    assert response.content == b""

    listed = {t["id"]: t for t in (await tenant.api.get("/api/v1/access-tokens")).json()["data"]}
    revoked_at = parse_iso(listed[issued["id"]]["revokedAt"])
    assert before - timedelta(seconds=5) <= revoked_at <= datetime.now(UTC) + timedelta(seconds=5)
    # Other tokens stay active.
    assert all(t["revokedAt"] is None for i, t in listed.items() if i != issued["id"])

    # Revoking again is harmless and keeps the first revocation time.
    again = await tenant.api.delete(f"/api/v1/access-tokens/{issued['id']}")
    assert again.status_code == 204
    relisted = {t["id"]: t for t in (await tenant.api.get("/api/v1/access-tokens")).json()["data"]}
    assert relisted[issued["id"]]["revokedAt"] == listed[issued["id"]]["revokedAt"]


async def test_revoke_unknown_token_is_404(tenant: Tenant) -> None:
    assert_problem(await tenant.api.delete(f"/api/v1/access-tokens/{uuid.uuid4()}"), 404)


async def test_member_revokes_own_token(member: Member) -> None:
    own = (await member.api.post("/api/v1/access-tokens", json={"name": "spare"})).json()
    assert (await member.api.delete(f"/api/v1/access-tokens/{own['id']}")).status_code == 204
    listed = {t["id"]: t for t in (await member.api.get("/api/v1/access-tokens")).json()["data"]}
    assert listed[own["id"]]["revokedAt"] is not None


async def test_member_cannot_revoke_someone_elses_token(
    app: FastAPI, tenant: Tenant, member: Member
) -> None:
    admin_tokens = (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
    bootstrap = next(t for t in admin_tokens if t["userId"] == tenant.user_id)
    _, colleague_token = await add_member(app, tenant, "colleague@acme.test")
    colleague = next(
        t
        for t in (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
        if t["userId"] not in {tenant.user_id, member.id}
    )

    for target in (bootstrap, colleague):
        response = await member.api.delete(f"/api/v1/access-tokens/{target['id']}")
        missing = await member.api.delete(f"/api/v1/access-tokens/{uuid.uuid4()}")
        problem = assert_problem(response, 404)
        # Indistinguishable from a token that does not exist.
        assert problem["type"] == missing.json()["type"]
        assert problem["title"] == missing.json()["title"]

    # Both still work and are not revoked.
    assert (await tenant.api.get("/api/v1/users/me")).status_code == 200
    async with tenant.client(colleague_token) as c:
        assert (await c.get("/api/v1/users/me")).status_code == 200
    listed = (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
    assert all(t["revokedAt"] is None for t in listed)


async def test_admin_revokes_a_members_token(tenant: Tenant, member: Member) -> None:
    member_token = next(
        t
        for t in (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
        if t["userId"] == member.id
    )
    assert (
        await tenant.api.delete(f"/api/v1/access-tokens/{member_token['id']}")
    ).status_code == 204
    assert (await member.api.get("/api/v1/users/me")).status_code == 401


async def test_member_issuing_for_another_user_is_403(tenant: Tenant, member: Member) -> None:
    response = await member.api.post(
        "/api/v1/access-tokens", json={"name": "steal", "userId": tenant.user_id}
    )
    assert_problem(response, 403)
    listed = (await tenant.api.get("/api/v1/access-tokens")).json()["data"]
    assert "steal" not in {t["name"] for t in listed}


async def test_member_issuing_for_itself_by_user_id_is_allowed(member: Member) -> None:
    response = await member.api.post(
        "/api/v1/access-tokens", json={"name": "mine", "userId": member.id}
    )
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == member.id


async def test_admin_issues_a_token_for_a_member(tenant: Tenant, member: Member) -> None:
    member_id = member.id
    response = await tenant.api.post(
        "/api/v1/access-tokens", json={"name": "for-member", "userId": member_id}
    )
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == member_id
    async with tenant.client(response.json()["token"]) as as_member:
        me = await as_member.get("/api/v1/users/me")
        assert me.json()["id"] == member_id
        assert me.json()["role"] == "member"
        # The token carries the member's role, not the issuing admin's.
        assert_problem(await as_member.get("/api/v1/units"), 403)


async def test_admin_issuing_for_unknown_user_is_404(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/v1/access-tokens", json={"name": "ghost", "userId": str(uuid.uuid4())}
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("days", [1, 7, 3650])
async def test_expires_in_days_sets_expires_at(tenant: Tenant, days: int) -> None:
    before = datetime.now(UTC)
    response = await tenant.api.post(
        "/api/v1/access-tokens", json={"name": "temp", "expiresInDays": days}
    )
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    expires_at = parse_iso(response.json()["expiresAt"])
    slack = timedelta(seconds=2)
    assert before + timedelta(days=days) - slack <= expires_at
    assert expires_at <= after + timedelta(days=days) + slack
    async with tenant.client(response.json()["token"]) as temp:
        assert (await temp.get("/api/v1/users/me")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": -1}, "expiresInDays"),
        ({"expiresInDays": 3651}, "expiresInDays"),
        ({"expiresInDays": "7"}, "expiresInDays"),
        ({"expiresInDays": 1.5}, "expiresInDays"),
        ({"expiresInDays": True}, "expiresInDays"),
        ({"expiresIn": 7}, "expiresIn"),
        ({"token": "agc_mine"}, "token"),
        ({"userId": "not-a-uuid"}, "userId"),
        ({"name": ""}, "name"),
    ],
)
async def test_create_token_validation_is_422_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await tenant.api.post("/api/v1/access-tokens", json=body)
    assert field in error_fields(response)


async def test_revoke_token_with_malformed_id_is_422(tenant: Tenant) -> None:
    assert error_fields(await tenant.api.delete("/api/v1/access-tokens/123")) == {"id"}
