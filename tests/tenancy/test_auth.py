"""Bearer authentication of every `/api/v1` request."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from agentcal.db.engine import session_scope, utcnow
from agentcal.tenancy import service
from agentcal.tenancy.models import AccessToken, User
from tests.factories import Tenant, add_member
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"
SOME_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

# A representative set: every router, every method, list and item paths, with and without body.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/units", None),
    ("POST", "/api/v1/units", {"name": "North"}),
    ("GET", f"/api/v1/units/{SOME_ID}", None),
    ("GET", "/api/v1/users", None),
    ("GET", "/api/v1/users/me", None),
    ("GET", f"/api/v1/users/{SOME_ID}", None),
    ("GET", "/api/v1/access-tokens", None),
    ("POST", "/api/v1/access-tokens", {"name": "ci"}),
    ("DELETE", f"/api/v1/access-tokens/{SOME_ID}", None),
    ("GET", "/api/v1/bots", None),
    ("POST", "/api/v1/bots", {"name": "Receptionist", "unitId": SOME_ID}),
    ("PUT", f"/api/v1/bots/{SOME_ID}", {"name": "Receptionist", "unitId": SOME_ID}),
    ("DELETE", f"/api/v1/bots/{SOME_ID}", None),
    ("GET", f"/api/v1/calcom/integration/{SOME_ID}", None),
    ("GET", f"/api/v1/calcom/integration/unit/{SOME_ID}", None),
    ("POST", "/api/v1/calcom/integration", {}),
    ("GET", "/api/v1/functions/", None),
    ("GET", f"/api/v1/functions/{SOME_ID}", None),
    ("POST", "/api/v1/functions/", {}),
    ("POST", f"/api/v1/functions/duplicate/{SOME_ID}", None),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str] | dict[bytes, bytes] | None = None,
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"] == "Unauthorized"
    assert problem["type"]
    assert problem["detail"]
    return problem


def challenge_error(response: httpx.Response) -> str | None:
    match = re.search(r'error="([^"]*)"', response.headers["www-authenticate"])
    return match.group(1) if match else None


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_missing_authorization_header_is_401_with_bare_bearer_challenge(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await call(client, method, path, body)
    assert_unauthorized(response)
    # RFC 6750 section 3.1: no credentials at all gets the challenge without an error code.
    assert response.headers["www-authenticate"] == 'Bearer realm="agentcal"'


async def test_authentication_comes_before_validation_and_path_parsing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # An anonymous caller must learn nothing about bodies or ids: always 401 first.
    for method, path, body in [
        ("POST", "/api/v1/bots", {"bogus": 1}),
        ("GET", "/api/v1/bots/not-a-uuid", None),
        ("PUT", "/api/v1/functions/not-a-uuid", {"x": 1}),
    ]:
        assert_unauthorized(await call(client, method, path, body))


@pytest.mark.parametrize(
    "header",
    [
        "Basic x",
        "Basic " + "YWRtaW46c2VjcmV0",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Token abc",
        "abc",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[:6], ids=ENDPOINT_IDS[:6])
async def test_malformed_authorization_header_is_401(
    client: httpx.AsyncClient,
    tenant: Tenant,
    header: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = await call(client, method, path, body, {"Authorization": header})
    assert_unauthorized(response)
    assert challenge_error(response) == "invalid_request"


async def test_basic_scheme_with_a_valid_token_is_still_401(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Basic {tenant.token}"}
    )
    assert_unauthorized(response)


async def test_two_credentials_where_the_first_is_valid_is_401(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tenant.token} {tenant.token}"}
    )
    assert_unauthorized(response)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_scheme_is_case_insensitive(
    client: httpx.AsyncClient, tenant: Tenant, scheme: str
) -> None:
    # RFC 9110 section 11.1: the auth scheme is case-insensitive.
    response = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"{scheme} {tenant.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == tenant.user_id


async def test_surrounding_whitespace_around_the_token_is_tolerated(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer   {tenant.token}  "}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "token",
    [
        "agc_" + "A" * 43,
        "not-a-token",
        "x" * 5000,
        "agc_\u00e9\u00e8",
        "'OR'1'='1';--",
    ],
    ids=["well-formed", "short", "huge", "latin1", "sql"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_unknown_token_is_401_invalid_token(
    tenant: Tenant, token: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    transport = httpx.ASGITransport(app=tenant.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentcal.test") as client:
        # Raw bytes, so a non-ASCII token reaches the server as a client would send it.
        headers = {b"Authorization": f"Bearer {token}".encode("latin-1")}
        response = await call(client, method, path, body, headers)
    assert_unauthorized(response)
    assert challenge_error(response) == "invalid_token"
    assert 'realm="agentcal"' in response.headers["www-authenticate"]


async def test_token_of_a_deleted_user_is_401(app: FastAPI, tenant: Tenant) -> None:
    user, token = await add_member(app, tenant, "leaver@acme.test")
    async with tenant.client(token) as member:
        assert (await member.get("/api/v1/users/me")).status_code == 200
        async with session_scope(app.state.sessionmaker) as session:
            await session.delete(await session.get(User, user.id))
        response = await member.get("/api/v1/users/me")
    assert_unauthorized(response)
    assert challenge_error(response) == "invalid_token"


async def test_revoked_token_is_401_revoked(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/access-tokens", json={"name": "laptop"})
    assert created.status_code == 201, created.text
    issued = created.json()
    async with tenant.client(issued["token"]) as laptop:
        assert (await laptop.get("/api/v1/users/me")).status_code == 200

        revoked = await tenant.api.delete(f"/api/v1/access-tokens/{issued['id']}")
        assert revoked.status_code == 204

        for method, path, body in ENDPOINTS:
            response = await call(laptop, method, path, body)
            problem = assert_unauthorized(response)
            assert "revoked" in problem["detail"]
            assert challenge_error(response) == "invalid_token"
    # The admin's own token is untouched.
    assert (await tenant.api.get("/api/v1/users/me")).status_code == 200


async def test_a_token_can_revoke_itself(tenant: Tenant) -> None:
    issued = (await tenant.api.post("/api/v1/access-tokens", json={"name": "once"})).json()
    async with tenant.client(issued["token"]) as once:
        assert (await once.delete(f"/api/v1/access-tokens/{issued['id']}")).status_code == 204
        problem = assert_unauthorized(await once.get("/api/v1/users/me"))
    assert "revoked" in problem["detail"]


async def test_expired_token_is_401_expired(app: FastAPI, tenant: Tenant) -> None:
    async with session_scope(app.state.sessionmaker) as session:
        admin = await session.get(User, uuid.UUID(tenant.user_id))
        assert admin is not None
        issued = await service.issue_token(session, admin, "short-lived", timedelta(hours=1))
    async with tenant.client(issued.token) as short:
        assert (await short.get("/api/v1/users/me")).status_code == 200

        async with session_scope(app.state.sessionmaker) as session:
            await session.execute(
                update(AccessToken)
                .where(AccessToken.id == issued.record.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

        for method, path, body in ENDPOINTS:
            response = await call(short, method, path, body)
            problem = assert_unauthorized(response)
            assert "expired" in problem["detail"]
            assert challenge_error(response) == "invalid_token"


async def test_token_expiring_now_is_expired_and_future_one_is_active(
    app: FastAPI, tenant: Tenant
) -> None:
    async with session_scope(app.state.sessionmaker) as session:
        admin = await session.get(User, uuid.UUID(tenant.user_id))
        assert admin is not None
        issued = await service.issue_token(session, admin, "edge", timedelta(days=1))
    assert service.token_state(issued.record, utcnow()) == "active"
    assert issued.record.expires_at is not None
    assert service.token_state(issued.record, issued.record.expires_at) == "expired"


async def test_tokens_are_stored_only_as_sha256_hash(app: FastAPI, tenant: Tenant) -> None:
    created = await tenant.api.post("/api/v1/access-tokens", json={"name": "hashed"})
    assert created.status_code == 201
    token = created.json()["token"]
    random_part = token.partition("_")[2]

    async with app.state.sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM access_tokens"))).mappings().all()
        record = await session.scalar(
            select(AccessToken).where(AccessToken.id == uuid.UUID(created.json()["id"]))
        )
    assert record is not None
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # Neither the token nor its secret part is stored anywhere in the table, in any row.
    tokens = [token, tenant.token]
    for row in rows:
        for column, value in row.items():
            stored = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for clear in tokens:
                assert clear not in stored, column
                assert clear.partition("_")[2] not in stored, column
    assert random_part
    # The listing shows only a short prefix for telling tokens apart.
    listed = {t["id"]: t for t in (await tenant.api.get("/api/v1/access-tokens")).json()["data"]}
    prefix = listed[created.json()["id"]]["prefix"]
    assert token.startswith(prefix)
    assert len(prefix) < len(token) // 3


async def test_tokens_carry_at_least_256_random_bits(tenant: Tenant) -> None:
    tokens = [tenant.token]
    for n in range(5):
        created = await tenant.api.post("/api/v1/access-tokens", json={"name": f"t{n}"})
        assert created.status_code == 201
        tokens.append(created.json()["token"])
    for token in tokens:
        prefix, _, secret = token.partition("_")
        assert prefix.isalpha()
        # 43 url-safe base64 characters carry 43 * 6 = 258 >= 256 bits.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", secret), token
    assert len(set(tokens)) == len(tokens)
    assert len({t.partition("_")[2][:8] for t in tokens}) == len(tokens)


async def test_issued_token_authenticates_as_its_user_and_institution(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    for owner in (tenant, other_tenant):
        me = await owner.api.get("/api/v1/users/me")
        assert me.status_code == 200
        assert me.json()["id"] == owner.user_id
        assert me.json()["institutionId"] == owner.institution_id
