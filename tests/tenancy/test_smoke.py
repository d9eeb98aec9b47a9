from tests.factories import Tenant


async def test_me_answers_the_tokens_user(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/v1/users/me")
    assert response.status_code == 200
    assert response.json()["id"] == tenant.user_id
    assert response.json()["role"] == "admin"
