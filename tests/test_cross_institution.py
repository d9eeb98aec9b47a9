"""No token reaches another institution's objects.

Every id of another institution answers 404 exactly as a missing id does, in the path,
in the query and in the body, and the call leaves the object as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import Tenant, calcom_body, calcom_update_body, google_function_body
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"


@dataclass
class World:
    """Objects of one institution, as ids."""

    unit: str
    user: str
    token: str  # an access token's id
    bot: str
    integration: str
    function: str

    def ids(self) -> dict[str, str]:
        return dict(vars(self))


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def build_world(tenant: Tenant, email: str) -> World:
    api = tenant.api
    user = await created(api, "/api/v1/users", {"email": email, "name": "Bia"})
    token = await created(api, "/api/v1/access-tokens", {"name": "member", "userId": user})
    bot = await created(api, "/api/v1/bots", {"name": "Receptionist", "unitId": tenant.unit_id})
    integration = await created(
        api, "/api/v1/calcom/integration", calcom_body(tenant.unit_id, botId=bot)
    )
    function = await created(
        api, "/api/v1/functions/", google_function_body(user, tenant.unit_id, botId=bot)
    )
    await created(api, f"/api/v1/bots/{bot}/channels", {"platform": "vapi", "name": "Desk"})
    return World(tenant.unit_id, user, token, bot, integration, function)


@pytest.fixture
async def owned(tenant: Tenant) -> World:
    """What `tenant` owns; `other_tenant` must not reach any of it."""
    return await build_world(tenant, "bia@acme.test")


@pytest.fixture
async def others(other_tenant: Tenant) -> World:
    """What `other_tenant` owns, so its calls are valid but for the foreign id."""
    return await build_world(other_tenant, "caio@globex.test")


Body = Callable[[Tenant, World], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # `{kind}` is the foreign object's id
    kind: str  # which object of `World` the path names
    body: Body = None  # built for the caller, from the caller's own objects
    owner_view: str = ""  # what the owner reads to see the object unchanged

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def bot_body(caller: Tenant, mine: World) -> dict[str, Any]:
    return {"name": "Hijacked", "unitId": caller.unit_id, "description": "x"}


def integration_body(caller: Tenant, mine: World) -> dict[str, Any]:
    return calcom_update_body(caller.unit_id, title="Hijacked", isActive=False)


def function_body(caller: Tenant, mine: World) -> dict[str, Any]:
    return google_function_body(mine.user, caller.unit_id, name="Hijacked")


def channel_body(caller: Tenant, mine: World) -> dict[str, Any]:
    return {"platform": "vapi", "name": "Hijacked"}


# Every endpoint that takes an id, in its path or its query.
CASES = [
    Case("GET", "/api/v1/units/{unit}", "unit", owner_view="/api/v1/units/{unit}"),
    Case("GET", "/api/v1/users/{user}", "user", owner_view="/api/v1/users/{user}"),
    Case("DELETE", "/api/v1/access-tokens/{token}", "token", owner_view="/api/v1/access-tokens"),
    Case("GET", "/api/v1/bots/{bot}", "bot", owner_view="/api/v1/bots/{bot}"),
    Case("PUT", "/api/v1/bots/{bot}", "bot", bot_body, "/api/v1/bots/{bot}"),
    Case("DELETE", "/api/v1/bots/{bot}", "bot", owner_view="/api/v1/bots/{bot}"),
    Case("GET", "/api/v1/bots?unitId={unit}", "unit", owner_view="/api/v1/bots?unitId={unit}"),
    Case("GET", "/api/v1/bots/{bot}/channels", "bot", owner_view="/api/v1/bots/{bot}/channels"),
    Case(
        "POST",
        "/api/v1/bots/{bot}/channels",
        "bot",
        channel_body,
        "/api/v1/bots/{bot}/channels",
    ),
    Case(
        "GET",
        "/api/v1/calcom/integration/{integration}",
        "integration",
        owner_view="/api/v1/calcom/integration/{integration}",
    ),
    Case(
        "PUT",
        "/api/v1/calcom/integration/{integration}",
        "integration",
        integration_body,
        "/api/v1/calcom/integration/{integration}",
    ),
    Case(
        "DELETE",
        "/api/v1/calcom/integration/{integration}",
        "integration",
        owner_view="/api/v1/calcom/integration/{integration}",
    ),
    Case(
        "GET",
        "/api/v1/calcom/integration/{integration}/event-types",
        "integration",
        owner_view="/api/v1/calcom/integration/{integration}",
    ),
    Case(
        "GET",
        "/api/v1/calcom/integration/unit/{unit}",
        "unit",
        owner_view="/api/v1/calcom/integration/unit/{unit}",
    ),
    Case(
        "GET", "/api/v1/functions/{function}", "function", owner_view="/api/v1/functions/{function}"
    ),
    Case(
        "PUT",
        "/api/v1/functions/{function}",
        "function",
        function_body,
        "/api/v1/functions/{function}",
    ),
    Case(
        "DELETE",
        "/api/v1/functions/{function}",
        "function",
        owner_view="/api/v1/functions/{function}",
    ),
    Case(
        "POST",
        "/api/v1/functions/duplicate/{function}",
        "function",
        owner_view="/api/v1/functions/?unityId={unit}",
    ),
    Case(
        "GET",
        "/api/v1/functions/?unityId={unit}",
        "unit",
        owner_view="/api/v1/functions/?unityId={unit}",
    ),
    Case(
        "GET",
        "/api/v1/functions?unityId={unit}",
        "unit",
        owner_view="/api/v1/functions/?unityId={unit}",
    ),
]


def leaks(problem: dict[str, Any], owner: Tenant, world: World, sent: str) -> list[str]:
    """What of the owner's institution a 404 mentions, beyond the id the caller sent."""
    text = repr(problem).lower().replace(sent.lower(), "<sent>")
    secrets = [owner.institution_id, owner.user_id, owner.email, "acme", "sales"]
    secrets += world.ids().values()
    return [s for s in secrets if s.lower() in text]


def assert_same_404(
    foreign: httpx.Response, missing: httpx.Response, foreign_id: str, missing_id: str
) -> None:
    assert foreign.status_code == 404, foreign.text
    assert missing.status_code == 404, missing.text
    assert foreign.headers["content-type"].startswith(PROBLEM_JSON)
    assert foreign.headers["content-type"] == missing.headers["content-type"]
    a, b = foreign.json(), missing.json()
    assert a.keys() == b.keys()
    assert a["type"] == b["type"]
    assert a["title"] == b["title"]
    assert a["status"] == b["status"] == 404
    # Word for word the same answer, but for the id the caller itself sent.
    assert a["detail"].replace(foreign_id, "<id>") == b["detail"].replace(missing_id, "<id>")
    assert "www-authenticate" not in foreign.headers


async def snapshot(owner: Tenant, world: World) -> dict[str, Any]:
    """Everything the owner can read about its objects."""
    paths = [
        f"/api/v1/units/{world.unit}",
        f"/api/v1/users/{world.user}",
        "/api/v1/access-tokens",
        f"/api/v1/bots/{world.bot}",
        f"/api/v1/bots?unitId={world.unit}",
        f"/api/v1/bots/{world.bot}/channels",
        f"/api/v1/calcom/integration/{world.integration}",
        f"/api/v1/calcom/integration/unit/{world.unit}",
        f"/api/v1/functions/{world.function}",
        f"/api/v1/functions/?unityId={world.unit}",
        "/api/v1/functions/",
        "/api/v1/users",
        "/api/v1/units",
    ]
    views = {}
    for path in paths:
        response = await owner.api.get(path)
        assert response.status_code == 200, (path, response.text)
        views[path] = response.json()
    return views


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_foreign_id_is_404_like_a_missing_one_and_changes_nothing(
    tenant: Tenant, other_tenant: Tenant, owned: World, others: World, case: Case
) -> None:
    foreign_id = owned.ids()[case.kind]
    missing_id = str(uuid.uuid4())
    owner_view = case.owner_view.format(**owned.ids())
    before_view = await tenant.api.get(owner_view)
    assert before_view.status_code == 200, before_view.text
    before_all = await snapshot(tenant, owned)
    others_before = await snapshot(other_tenant, others)

    body = case.body(other_tenant, others) if case.body else None
    foreign = await other_tenant.api.request(
        case.method, case.path.format(**{case.kind: foreign_id}), json=body
    )
    missing = await other_tenant.api.request(
        case.method, case.path.format(**{case.kind: missing_id}), json=body
    )

    assert_same_404(foreign, missing, foreign_id, missing_id)
    assert not leaks(foreign.json(), tenant, owned, foreign_id)

    after_view = await tenant.api.get(owner_view)
    assert after_view.status_code == 200
    assert after_view.json() == before_view.json()
    assert await snapshot(tenant, owned) == before_all
    # Nothing appeared on the caller's side either (no duplicate, no moved bot, ...).
    assert await snapshot(other_tenant, others) == others_before


async def test_foreign_access_token_still_works_after_a_revoke_attempt(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    issued = await tenant.api.post("/api/v1/access-tokens", json={"name": "kept"})
    token = issued.json()
    response = await other_tenant.api.delete(f"/api/v1/access-tokens/{token['id']}")
    assert response.status_code == 404
    async with tenant.client(token["token"]) as kept:
        assert (await kept.get("/api/v1/users/me")).status_code == 200


async def test_listings_never_show_another_institutions_objects(
    tenant: Tenant, other_tenant: Tenant, owned: World, others: World
) -> None:
    for path in [
        "/api/v1/units",
        "/api/v1/users",
        "/api/v1/access-tokens",
        "/api/v1/bots",
        "/api/v1/functions/",
        "/api/v1/functions",
        f"/api/v1/calcom/integration/unit/{other_tenant.unit_id}",
        f"/api/v1/functions/?unityId={other_tenant.unit_id}",
        f"/api/v1/bots?unitId={other_tenant.unit_id}",
        "/api/v1/users/me",
    ]:
        response = await other_tenant.api.get(path)
        assert response.status_code == 200, (path, response.text)
        for ident in [*owned.ids().values(), tenant.institution_id, tenant.user_id]:
            assert ident not in response.text, (path, ident)
        # ... while the caller's own objects are there.
        assert any(ident in response.text for ident in others.ids().values()) or path.endswith(
            "/me"
        ), path


# Body references: the caller's request is valid but for one id of the other institution.
# Each entry: (label, field of the foreign id, builder(caller, caller's world, foreign id)).
BodyCase = tuple[str, str, Callable[[Tenant, World, str], tuple[str, str, dict[str, Any]]]]
BODY_CASES: list[BodyCase] = [
    (
        "create bot in foreign unit",
        "unit",
        lambda c, o, x: ("POST", "/api/v1/bots", {"name": "Bot", "unitId": x}),
    ),
    (
        "create integration in foreign unit",
        "unit",
        lambda c, o, x: ("POST", "/api/v1/calcom/integration", calcom_body(x)),
    ),
    (
        "create integration linked to foreign bot",
        "bot",
        lambda c, o, x: ("POST", "/api/v1/calcom/integration", calcom_body(c.unit_id, botId=x)),
    ),
    (
        "create function in foreign unity",
        "unit",
        lambda c, o, x: ("POST", "/api/v1/functions/", google_function_body(o.user, x)),
    ),
    (
        "create function for foreign user",
        "user",
        lambda c, o, x: ("POST", "/api/v1/functions/", google_function_body(x, c.unit_id)),
    ),
    (
        "create function linked to foreign bot",
        "bot",
        lambda c, o, x: (
            "POST",
            "/api/v1/functions/",
            google_function_body(o.user, c.unit_id, botId=x),
        ),
    ),
    (
        "issue token for foreign user",
        "user",
        lambda c, o, x: ("POST", "/api/v1/access-tokens", {"name": "steal", "userId": x}),
    ),
    (
        "move own bot to foreign unit",
        "unit",
        lambda c, o, x: ("PUT", f"/api/v1/bots/{o.bot}", {"name": "Bot", "unitId": x}),
    ),
    (
        "move own integration to foreign unit",
        "unit",
        lambda c, o, x: (
            "PUT",
            f"/api/v1/calcom/integration/{o.integration}",
            calcom_update_body(x, botId=None),
        ),
    ),
    (
        "link own integration to foreign bot",
        "bot",
        lambda c, o, x: (
            "PUT",
            f"/api/v1/calcom/integration/{o.integration}",
            calcom_update_body(c.unit_id, botId=x),
        ),
    ),
    (
        "move own function to foreign unity",
        "unit",
        lambda c, o, x: (
            "PUT",
            f"/api/v1/functions/{o.function}",
            google_function_body(o.user, x, botId=None),
        ),
    ),
    (
        "give own function to foreign user",
        "user",
        lambda c, o, x: (
            "PUT",
            f"/api/v1/functions/{o.function}",
            google_function_body(x, c.unit_id),
        ),
    ),
    (
        "link own function to foreign bot",
        "bot",
        lambda c, o, x: (
            "PUT",
            f"/api/v1/functions/{o.function}",
            google_function_body(o.user, c.unit_id, botId=x),
        ),
    ),
]


@pytest.mark.parametrize(("label", "kind", "build"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
async def test_foreign_id_in_the_body_is_404_like_a_missing_one(
    tenant: Tenant,
    other_tenant: Tenant,
    owned: World,
    others: World,
    label: str,
    kind: str,
    build: Callable[[Tenant, World, str], tuple[str, str, dict[str, Any]]],
) -> None:
    foreign_id = owned.ids()[kind]
    missing_id = str(uuid.uuid4())
    before_owner = await snapshot(tenant, owned)
    before_caller = await snapshot(other_tenant, others)

    method, path, body = build(other_tenant, others, foreign_id)
    foreign = await other_tenant.api.request(method, path, json=body)
    method, path, body = build(other_tenant, others, missing_id)
    missing = await other_tenant.api.request(method, path, json=body)

    assert_same_404(foreign, missing, foreign_id, missing_id)
    assert not leaks(foreign.json(), tenant, owned, foreign_id)
    assert await snapshot(tenant, owned) == before_owner
    assert await snapshot(other_tenant, others) == before_caller


async def test_the_same_requests_with_own_ids_succeed(
    other_tenant: Tenant, owned: World, others: World
) -> None:
    """The body-reference cases fail only for the foreign id: with the caller's own, they pass."""
    own = others.ids()
    for label, kind, build in BODY_CASES:
        method, path, body = build(other_tenant, others, own[kind])
        response = await other_tenant.api.request(method, path, json=body)
        assert response.status_code in (200, 201), (label, response.text)
