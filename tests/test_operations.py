"""`/healthz`, `/readyz`, `/metrics`, request ids and the OpenAPI document."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.error_handlers import _transient
from agentcal.settings import Settings
from tests.factories import Tenant, calcom_body


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_metrics_count_requests_by_route_template(tenant: Tenant) -> None:
    await tenant.api.get(f"/api/v1/units/{tenant.unit_id}")
    text = (await tenant.api.get("/metrics")).text
    assert 'route="/api/v1/units/{id}"' in text
    assert tenant.unit_id not in text  # ids never become label values


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_unknown_paths_are_problem_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_wrong_method_is_problem_json_405(tenant: Tenant) -> None:
    response = await tenant.api.patch("/api/v1/bots")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "GET, POST"


async def test_allow_names_the_methods_of_every_route_of_the_path(tenant: Tenant) -> None:
    # GET, PUT and DELETE of `/bots/{id}` are three routes; Starlette names only the first.
    response = await tenant.api.patch(f"/api/v1/bots/{uuid.uuid4()}")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert "DELETE, GET, PUT" in response.json()["detail"]


async def test_openapi_documents_the_seed_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/calcom/integration",
        "/api/v1/calcom/integration/{id}",
        "/api/v1/calcom/integration/unit/{unitId}",
        "/api/v1/functions/",
        "/api/v1/functions/{id}",
        "/api/v1/functions/duplicate/{id}",
    ):
        assert path in paths


class _Links(HTMLParser):
    """Every `src` and `href` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
async def test_the_api_pages_load_only_assets_agentcal_serves(
    client: httpx.AsyncClient, page: str, assets: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text
    links = _Links()
    links.feed(response.text)
    assert {url.rsplit("/", 1)[-1] for url in links.urls} == assets
    assert all(url.startswith("/docs/assets/") for url in links.urls), links.urls
    assert "http://" not in response.text
    assert "https://" not in response.text
    kinds = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    for url in links.urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(kinds[url.rsplit(".", 1)[-1]]), url
        assert len(asset.content) > 1000, url


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_documented_error_is_problem_json(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}
    assert schemas["Problem"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    assert set(schemas["FieldError"]["required"]) == {"field", "message"}
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"},
                        "example": response["content"]["application/problem+json"]["example"],
                    }
                }, (method, path, status)
        assert {"431", "500"} <= set(operation["responses"]), (method, path)


HOOK_SECURITY = {
    "vapi": [{"vapiSecret": []}, {"channelSecret": []}],
    "retell": [{"retellSignature": []}],
    "elevenlabs": [{"channelSecret": []}],
}


async def test_the_bearer_scheme_is_documented_on_every_api_operation(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, operation in _operations(document):
        if path.startswith("/api/"):
            assert operation["security"] == [{"bearer": []}], (method, path)
            unauthorized = operation["responses"]["401"]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
            limited = operation["responses"]["429"]["headers"]
            assert all(limited[h]["required"] for h in ("Retry-After", "RateLimit"))
        elif path.startswith("/hooks/"):
            # A voice platform authenticates with its channel: a secret, or a signature.
            assert operation["security"] == HOOK_SECURITY[path.split("/")[2]], (method, path)
            assert "429" in operation["responses"], (method, path)
        else:
            assert "security" not in operation, (method, path)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("get", "/healthz", {200, 431, 500}),
        ("get", "/readyz", {200, 431, 500, 503}),
        ("get", "/api/v1/users/me", {200, 401, 429, 431, 500, 503}),
        ("get", "/api/v1/units", {200, 401, 403, 429, 431, 500, 503}),
        ("post", "/api/v1/units", {201, 400, 401, 403, 409, 413, 415, 422, 429, 431, 500, 503}),
        ("post", "/api/v1/bots", {201, 400, 401, 404, 409, 413, 415, 422, 429, 431, 500, 503}),
        ("get", "/api/v1/bots/{id}", {200, 401, 404, 422, 429, 431, 500, 503}),
        ("delete", "/api/v1/bots/{id}", {204, 401, 404, 409, 422, 429, 431, 500, 503}),
        (
            "get",
            "/api/v1/calcom/integration/{id}/event-types",
            {200, 401, 404, 409, 422, 429, 431, 500, 503},
        ),
        (
            "post",
            "/api/v1/bots/{botId}/tool-calls",
            {200, 400, 401, 404, 409, 413, 415, 422, 429, 431, 500, 503},
        ),
    ],
)
async def test_each_operation_documents_each_status_it_answers(
    client: httpx.AsyncClient, method: str, path: str, statuses: set[int]
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert set(map(int, document["paths"][path][method]["responses"])) == statuses


async def test_invented_http_methods_share_one_metric_label(tenant: Tenant) -> None:
    await tenant.api.request("FOOBAR", "/api/v1/units")
    text = (await tenant.api.get("/metrics")).text
    assert 'method="FOOBAR"' not in text
    assert 'method="other"' in text


async def test_an_unhandled_error_is_a_problem_500_with_the_request_id(
    settings: Settings, keyring: Keyring
) -> None:
    app = create_app(settings, keyring=keyring)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
    assert "kaboom" not in response.text  # internals stay in the log


async def test_a_secret_whose_key_was_removed_is_a_503_that_names_the_fix(
    tenant: Tenant, app: FastAPI
) -> None:
    created = await tenant.api.post("/api/v1/calcom/integration", json=calcom_body(tenant.unit_id))
    configured = app.state.keyring
    app.state.keyring = Keyring.from_text(generate_key())  # the operator dropped the old key
    try:
        response = await tenant.api.get(
            f"/api/v1/calcom/integration/{created.json()['id']}/event-types"
        )
    finally:
        app.state.keyring = configured
    assert response.status_code == 503
    assert "AGENTCAL_SECRET_KEYS" in response.json()["detail"]


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("orig", "transient"),
    [
        (_PgError("40P01"), True),  # deadlock_detected
        (_PgError("40001"), True),  # serialization_failure
        (_PgError("23505"), False),  # unique_violation is not contention
        (Exception("database is locked"), True),  # SQLite past its busy timeout
        (Exception("no such table: bots"), False),
    ],
)
def test_only_contention_counts_as_a_retryable_database_error(
    orig: Exception, transient: bool
) -> None:
    assert _transient(DBAPIError("SELECT 1", None, orig)) is transient
