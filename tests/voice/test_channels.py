"""`/api/v1/bots/{botId}/channels`: create, list, read, delete; secrets shown once, sealed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.crypto import rotation
from agentcal.crypto.keyring import Keyring, generate_key
from agentcal.db.engine import Base, session_scope
from agentcal.settings import Settings
from agentcal.voice.models import SIGNING_KEY, Channel
from tests.factories import Tenant
from tests.providers.calcom.support import bot_with_calcom
from tests.runtime.channels.hooks_support import (
    RETELL_API_KEY,
    create_channel,
    post_elevenlabs,
    post_retell,
    post_vapi,
    retell_request,
    vapi_tool_calls,
)
from tests.runtime.channels.support import PLATFORM_TOOL, violations
from tests.server_errors import watch_server_errors
from tests.support import free_port, wait_until

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

PROBLEM_JSON = "application/problem+json"
NOBODY = "00000000-0000-4000-8000-000000000000"


async def make_bot(tenant: Tenant, name: str = "Reception") -> str:
    response = await tenant.api.post("/api/v1/bots", json={"name": name, "unitId": tenant.unit_id})
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


def channels_path(bot_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/channels"


async def test_a_channel_is_created_with_its_url_and_a_secret_shown_once(tenant: Tenant) -> None:
    bot = await make_bot(tenant)

    created = await create_channel(tenant, bot, "vapi", "Front desk")

    channel_id = created["id"]
    assert created["platform"] == "vapi"
    assert created["name"] == "Front desk"
    assert created["botId"] == bot
    assert created["url"] == f"http://agentcal.test/hooks/vapi/{channel_id}"
    assert created["secret"].startswith("agch_")
    assert len(created["secret"]) >= 40
    assert "X-Vapi-Secret" in created["auth"]
    assert created["createdAt"].endswith("Z")
    listed = await tenant.api.get(channels_path(bot))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["data"]] == [channel_id]
    read = await tenant.api.get(f"{channels_path(bot)}/{channel_id}")
    assert read.status_code == 200
    shown = {k: v for k, v in created.items() if k not in ("secret", "tools")}
    assert read.json() == shown
    assert listed.json()["data"][0] == shown
    for answer in (listed, read):
        assert created["secret"] not in answer.text
        assert "secret" not in answer.json()
        assert "signingKey" not in answer.text


async def test_each_channel_has_its_own_secret(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    first = await create_channel(tenant, bot, "vapi")
    second = await create_channel(tenant, bot, "elevenlabs")
    assert first["secret"] != second["secret"]
    assert second["url"].endswith(f"/hooks/elevenlabs/{second['id']}")
    listed = await tenant.api.get(channels_path(bot))
    assert [c["platform"] for c in listed.json()["data"]] == ["vapi", "elevenlabs"]


async def test_a_retell_channel_needs_a_signing_key_and_has_no_secret(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    missing = await tenant.api.post(channels_path(bot), json={"platform": "retell", "name": "R"})
    assert missing.status_code == 422
    assert missing.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in missing.json()["errors"]] == ["signingKey"]
    assert "Retell API key" in missing.json()["errors"][0]["message"]

    created = await create_channel(tenant, bot, "retell", signingKey=RETELL_API_KEY)

    assert created["secret"] is None
    assert "X-Retell-Signature" in created["auth"]
    read = await tenant.api.get(f"{channels_path(bot)}/{created['id']}")
    assert RETELL_API_KEY not in read.text


@pytest.mark.parametrize("platform", ["vapi", "elevenlabs"])
async def test_only_retell_takes_a_signing_key(tenant: Tenant, platform: str) -> None:
    bot = await make_bot(tenant)
    body = {"platform": platform, "name": "X", "signingKey": RETELL_API_KEY}
    response = await tenant.api.post(channels_path(bot), json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["signingKey"]
    assert "only Retell" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "twilio", "name": "X"}, "platform"),
        ({"platform": "vapi"}, "name"),
        ({"platform": "vapi", "name": "  "}, "name"),
        ({"platform": "vapi", "name": "X", "secret": "mine"}, "secret"),
        ({"platform": "retell", "name": "X", "signingKey": "has spaces"}, "signingKey"),
    ],
)
async def test_invalid_bodies_name_their_field(
    tenant: Tenant, body: dict[str, str], field: str
) -> None:
    bot = await make_bot(tenant)
    response = await tenant.api.post(channels_path(bot), json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_a_deleted_channel_is_gone_and_its_url_answers_404(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    channel = await create_channel(tenant, bot, "vapi")
    path = f"{channels_path(bot)}/{channel['id']}"

    deleted = await tenant.api.delete(path)

    assert deleted.status_code == 204
    assert (await tenant.api.get(path)).status_code == 404
    assert (await tenant.api.delete(path)).status_code == 404
    assert (await tenant.api.get(channels_path(bot))).json() == {"data": []}
    hook = await post_vapi(tenant.api, channel, vapi_tool_calls())
    assert hook.status_code == 404


async def test_deleting_the_bot_deletes_its_channels(tenant: Tenant, engine: AsyncEngine) -> None:
    bot = await make_bot(tenant)
    keep = await make_bot(tenant, "Sales")
    doomed = await create_channel(tenant, bot, "retell")
    kept = await create_channel(tenant, keep, "elevenlabs")

    assert (await tenant.api.delete(f"/api/v1/bots/{bot}")).status_code == 204

    async with engine.connect() as conn:
        ids = {str(row[0]) for row in await conn.execute(select(Channel.id))}
    assert ids == {kept["id"]}
    body = retell_request("check_availability_x", {"startDate": "2026-03-09"})
    assert (await post_retell(tenant.api, doomed, body)).status_code == 404
    assert (await tenant.api.get(channels_path(bot))).status_code == 404


async def test_another_institutions_bot_and_channels_are_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await make_bot(tenant)
    theirs = await make_bot(other_tenant)
    their_channel = await create_channel(other_tenant, theirs, "vapi")
    my_channel = await create_channel(tenant, mine, "vapi")

    body = {"platform": "vapi", "name": "Sneaky"}
    for response in (
        await tenant.api.post(channels_path(theirs), json=body),
        await tenant.api.get(channels_path(theirs)),
        await tenant.api.get(f"{channels_path(theirs)}/{their_channel['id']}"),
        await tenant.api.delete(f"{channels_path(theirs)}/{their_channel['id']}"),
        # Their channel under my bot's path, my channel under a bot that is not its own.
        await tenant.api.get(f"{channels_path(mine)}/{their_channel['id']}"),
        await tenant.api.delete(f"{channels_path(mine)}/{their_channel['id']}"),
        await tenant.api.get(f"{channels_path(NOBODY)}/{my_channel['id']}"),
        await tenant.api.post(channels_path(NOBODY), json=body),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
    assert (await other_tenant.api.get(channels_path(theirs))).json()["data"][0]["id"] == (
        their_channel["id"]
    )


async def test_another_bots_channel_is_not_found_under_this_bot(tenant: Tenant) -> None:
    first, second = await make_bot(tenant), await make_bot(tenant, "Other")
    channel = await create_channel(tenant, first, "vapi")
    assert (await tenant.api.get(f"{channels_path(second)}/{channel['id']}")).status_code == 404
    assert (await tenant.api.delete(f"{channels_path(second)}/{channel['id']}")).status_code == 404
    assert (await tenant.api.get(f"{channels_path(first)}/{channel['id']}")).status_code == 200


async def test_channels_need_an_access_token(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    async with tenant.client(token="agc_not-a-token") as stranger:
        response = await stranger.get(channels_path(bot))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- secrets at rest


async def _store_channel_secrets(tenant: Tenant) -> list[str]:
    bot = await make_bot(tenant)
    vapi = await create_channel(tenant, bot, "vapi")
    elevenlabs = await create_channel(tenant, bot, "elevenlabs")
    await create_channel(tenant, bot, "retell")
    return [RETELL_API_KEY, vapi["secret"], elevenlabs["secret"]]


async def test_no_column_holds_a_channel_secret_or_signing_key(
    tenant: Tenant, engine: AsyncEngine
) -> None:
    secrets = await _store_channel_secrets(tenant)
    dump = []
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for value in row:
                    dump.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    everything = "\n".join(dump)
    assert "agch_" not in everything
    for secret in secrets:
        assert secret not in everything
        assert secret[-12:] not in everything


async def test_the_sqlite_file_holds_no_channel_secret_or_signing_key(
    tenant: Tenant, engine: AsyncEngine, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the database file exists only on SQLite; the column scan covers PostgreSQL")
    secrets = await _store_channel_secrets(tenant)
    async with engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    path = Path(database_url.split("///", 1)[1])
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    # Read by another process, as tests/crypto does: closing a descriptor of the
    # database here would drop the locks SQLite holds on it in this process.
    raw = b"".join(
        subprocess.run(["cat", str(p)], capture_output=True, check=True).stdout for p in files
    )
    assert len(raw) > 0
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw


async def test_key_rotation_reseals_the_signing_key(
    tenant: Tenant, engine: AsyncEngine, keyring: Keyring, secret_key: str
) -> None:
    assert Channel in [model for model, _ in rotation.secret_models()]
    bot = await make_bot(tenant)
    channel = await create_channel(tenant, bot, "retell")
    rotated = Keyring.from_text(f"{generate_key()},{secret_key}")

    async with session_scope(tenant.app.state.sessionmaker) as session:
        report = await rotation.rotate(session, rotated)
    assert report.resealed >= 1

    async with session_scope(tenant.app.state.sessionmaker) as session:
        row = await session.get(Channel, uuid.UUID(channel["id"]))
        assert row is not None
        assert row.signing_key_key_id == rotated.current_id != keyring.current_id
        assert SIGNING_KEY.open(rotated, row) == RETELL_API_KEY


async def test_an_elevenlabs_channel_url_is_the_base_of_its_tools(tenant: Tenant) -> None:
    bot = await make_bot(tenant)
    channel = await create_channel(tenant, bot, "elevenlabs")
    hook = await post_elevenlabs(tenant.api, channel, "check_availability_x", {})
    assert hook.status_code == 200  # the channel answers; the tool does not exist
    assert hook.json()["ok"] is False
    assert hook.json()["error"]["code"] == "unknown_tool"


async def test_the_create_answer_carries_the_tools_to_import_with_the_secret(
    tenant: Tenant,
) -> None:
    bot, _, names = await bot_with_calcom(tenant)
    offered = sorted(names.values())

    vapi = await create_channel(tenant, bot, "vapi")
    retell = await create_channel(tenant, bot, "retell")
    elevenlabs = await create_channel(tenant, bot, "elevenlabs")

    for channel in (vapi, retell, elevenlabs):
        for tool in channel["tools"]:
            assert violations(PLATFORM_TOOL[channel["platform"]], tool) == []
    assert sorted(t["function"]["name"] for t in vapi["tools"]) == offered
    for tool in vapi["tools"]:
        assert tool["server"]["url"] == vapi["url"]
        assert tool["server"]["headers"] == {"X-Vapi-Secret": vapi["secret"]}
    assert sorted(t["name"] for t in retell["tools"]) == offered
    assert {t["url"] for t in retell["tools"]} == {retell["url"]}
    assert RETELL_API_KEY not in str(retell["tools"])
    assert sorted(t["name"] for t in elevenlabs["tools"]) == offered
    for tool in elevenlabs["tools"]:
        assert tool["api_schema"]["url"] == f"{elevenlabs['url']}/{tool['name']}"
    # Later exports cannot know the secret.
    later = await tenant.api.get(
        f"/api/v1/bots/{bot}/tools", params={"format": "vapi", "channelId": vapi["id"]}
    )
    assert later.status_code == 200, later.text
    assert vapi["secret"] not in later.text


# ---------------------------------------------------------------------- in the logs


async def test_secrets_never_reach_the_servers_log(
    tenant: Tenant, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A real `agentcal serve` at DEBUG: create channels, call their hooks with good and
    bad credentials, and look for every secret in everything it wrote."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")} | {
        "AGENTCAL_DATABASE_URL": settings.resolved_database_url,
        "AGENTCAL_SECRET_KEYS": str(settings.secret_keys),
        "AGENTCAL_DATA_DIR": str(tmp_path),
        "AGENTCAL_CALCOM_API_URL": settings.calcom_api_url,
        "AGENTCAL_LOG_LEVEL": "DEBUG",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "agentcal", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            assert server.poll() is None, log.read_text()[-4000:]
            try:
                async with httpx.AsyncClient(timeout=1) as probe:
                    return (await probe.get(f"{url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, timeout=30, interval=0.05)
        bot = await make_bot(tenant)
        headers = {"Authorization": f"Bearer {tenant.token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            made = {}
            for platform in ("vapi", "elevenlabs", "retell"):
                body = {"platform": platform, "name": platform}
                if platform == "retell":
                    body["signingKey"] = RETELL_API_KEY
                response = await api.post(channels_path(bot), json=body)
                assert response.status_code == 201, response.text
                made[platform] = response.json()
                assert made[platform]["url"].startswith(url)
            async with httpx.AsyncClient(timeout=30) as platform_client:
                vapi, eleven = made["vapi"], made["elevenlabs"]
                for secret in (vapi["secret"], vapi["secret"] + "x"):
                    await post_vapi(
                        platform_client, vapi, vapi_tool_calls(), headers={"X-Vapi-Secret": secret}
                    )
                for secret in (eleven["secret"], eleven["secret"][:-1]):
                    await post_elevenlabs(
                        platform_client,
                        eleven,
                        "no_such_tool",
                        {},
                        headers={"Authorization": f"Bearer {secret}"},
                    )
                body = retell_request("no_such_tool", {})
                for key in (RETELL_API_KEY, "key_wrong"):
                    await post_retell(platform_client, made["retell"], body, key=key)
            await api.get(channels_path(bot))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    written = log.read_text(errors="replace")
    assert "request" in written  # the access log ran at DEBUG: there was something to read
    for secret in (made["vapi"]["secret"], made["elevenlabs"]["secret"], RETELL_API_KEY):
        assert secret not in written
        assert secret[:-1] not in written


async def test_channel_urls_use_the_public_url_when_one_is_set(tenant: Tenant) -> None:
    """Behind a TLS-terminating proxy the request's own address is the inside one:
    `AGENTCAL_PUBLIC_URL` says where platforms reach the server."""
    bot, _, _ = await bot_with_calcom(tenant)
    settings = tenant.app.state.settings
    tenant.app.state.settings = settings.model_copy(
        update={"public_url": "https://cal.example.com/"}
    )
    try:
        created = await create_channel(tenant, bot, "vapi")
        exported = await tenant.api.get(
            f"/api/v1/bots/{bot}/tools", params={"format": "vapi", "channelId": created["id"]}
        )
    finally:
        tenant.app.state.settings = settings
    assert created["url"] == f"https://cal.example.com/hooks/vapi/{created['id']}"
    listed = (await tenant.api.get(channels_path(bot))).json()["data"]
    assert listed[0]["url"].startswith("http://")  # the setting is read per request
    assert exported.status_code == 200, exported.text
    tools = exported.json()["tools"]
    assert tools
    assert all(t["server"]["url"] == created["url"] for t in tools)
