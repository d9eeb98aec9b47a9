"""The notification channel sandboxes over real HTTP: Discord's execute-webhook, Telegram's
sendMessage, the webhook sink, and each platform's 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        yield client


async def _discord(http: httpx.AsyncClient) -> dict[str, str]:
    made = await http.post("/sandbox/discord/webhooks")
    assert made.status_code == 201
    webhook: dict[str, str] = made.json()
    return webhook


async def _telegram(http: httpx.AsyncClient) -> dict[str, Any]:
    made = await http.post("/sandbox/telegram/bots")
    assert made.status_code == 201
    bot: dict[str, Any] = made.json()
    return bot


async def test_a_discord_webhook_takes_content_and_embeds_and_keeps_them(
    http: httpx.AsyncClient,
) -> None:
    webhook = await _discord(http)
    assert webhook["url"].endswith(f"/discord/api/webhooks/{webhook['id']}/{webhook['token']}")
    plain = await http.post(webhook["url"], json={"content": "New appointment: Ana at 10:00"})
    assert plain.status_code == 204
    assert plain.content == b""
    embed = {"title": "New appointment", "description": "Ana, Monday 10:00"}
    waited = await http.post(webhook["url"], params={"wait": "true"}, json={"embeds": [embed]})
    assert waited.status_code == 200
    assert waited.json()["embeds"] == [embed]
    kept = await http.get(f"/sandbox/discord/webhooks/{webhook['id']}/messages")
    contents = [(m["content"], m["embeds"]) for m in kept.json()["messages"]]
    assert contents == [("New appointment: Ana at 10:00", []), ("", [embed])]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, 50006),
        ({"content": ""}, 400, 50006),
        ({"content": "x" * 2001}, 400, 50035),
        ({"embeds": [{"title": "t"}] * 11}, 400, 50035),
    ],
)
async def test_discord_refuses_what_discord_refuses(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, code: int
) -> None:
    webhook = await _discord(http)
    refused = await http.post(webhook["url"], json=body)
    assert refused.status_code == status
    assert refused.json()["code"] == code
    kept = await http.get(f"/sandbox/discord/webhooks/{webhook['id']}/messages")
    assert kept.json()["messages"] == []


async def test_an_unknown_discord_webhook_or_token_is_discords_404(
    http: httpx.AsyncClient,
) -> None:
    webhook = await _discord(http)
    wrong = webhook["url"].replace(webhook["token"], "not-the-token")
    for url in (wrong, f"/discord/api/webhooks/1/{webhook['token']}"):
        refused = await http.post(url, json={"content": "hi"})
        assert refused.status_code == 404
        assert refused.json() == {"message": "Unknown Webhook", "code": 10015}


async def test_telegram_send_message_answers_as_the_bot_api(http: httpx.AsyncClient) -> None:
    bot = await _telegram(http)
    token, chat = bot["token"], bot["chatId"]
    assert bot["target"] == f"{token}:{chat}"
    sent = await http.post(
        f"/telegram/bot{token}/sendMessage", json={"chat_id": chat, "text": "Hi"}
    )
    assert sent.status_code == 200
    answer = sent.json()
    assert answer["ok"] is True
    assert (answer["result"]["chat"]["id"], answer["result"]["text"]) == (chat, "Hi")
    kept = await http.get(f"/sandbox/telegram/bots/{token}/messages")
    assert [m["text"] for m in kept.json()["messages"]] == ["Hi"]


@pytest.mark.parametrize(
    ("token_ok", "body", "status", "description"),
    [
        (False, {"chat_id": 1, "text": "Hi"}, 401, "Unauthorized"),
        (True, {"chat_id": 12345, "text": "Hi"}, 400, "Bad Request: chat not found"),
        (True, {"text": "  "}, 400, "Bad Request: message text is empty"),
        (True, {"text": "x" * 4097}, 400, "Bad Request: message is too long"),
    ],
)
async def test_telegram_refuses_what_telegram_refuses(
    http: httpx.AsyncClient, token_ok: bool, body: dict[str, Any], status: int, description: str
) -> None:
    bot = await _telegram(http)
    token = bot["token"] if token_ok else "123:wrong"
    body = {"chat_id": bot["chatId"], **body}
    refused = await http.post(f"/telegram/bot{token}/sendMessage", json=body)
    assert refused.status_code == status
    assert refused.json() == {"ok": False, "error_code": status, "description": description}


async def test_each_platforms_429_carries_its_own_retry_after(
    http: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    webhook, bot = await _discord(http), await _telegram(http)
    sandbox.state.faults.rules += [
        Fault(path_prefix="/discord/", status=429, retry_after=2.5),
        Fault(path_prefix="/telegram/", status=429, retry_after=7),
    ]
    discord = await http.post(webhook["url"], json={"content": "hi"})
    assert discord.status_code == 429
    assert discord.headers["retry-after"] == "2.5"
    assert discord.json() == {
        "message": "You are being rate limited.",
        "retry_after": 2.5,
        "global": False,
    }
    telegram = await http.post(
        f"/telegram/bot{bot['token']}/sendMessage", json={"chat_id": bot["chatId"], "text": "hi"}
    )
    assert telegram.status_code == 429
    assert telegram.json()["parameters"] == {"retry_after": 7}
    assert telegram.json()["description"] == "Too Many Requests: retry after 7"
    # One request each: the next ones are delivered.
    assert (await http.post(webhook["url"], json={"content": "hi"})).status_code == 204


async def test_the_webhook_sink_records_what_it_receives(http: httpx.AsyncClient) -> None:
    headers = {"webhook-id": "msg_1", "Content-Type": "application/json"}
    sent = await http.post("/sandbox/webhooks/clinic", content=b'{"event": "x"}', headers=headers)
    assert sent.status_code == 200
    received = (await http.get("/sandbox/webhooks/clinic")).json()["received"]
    assert len(received) == 1
    assert received[0]["method"] == "POST"
    assert received[0]["headers"]["webhook-id"] == "msg_1"
    assert received[0]["body"] == '{"event": "x"}'
    assert (await http.get("/sandbox/webhooks/other")).json() == {"received": []}
