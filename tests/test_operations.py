"""`/healthz`, `/readyz`, `/metrics`, request ids and the OpenAPI document."""

from __future__ import annotations

import httpx

from tests.factories import Tenant


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
