"""An MCP client for one agentcal bot: list its tools, find a free time, book it.

It does what an agent does over MCP, with the official `mcp` SDK: it lists the bot's
tools, calls the first `check_availability_*` tool for a day, books the first free
time with the matching `create_booking_*` tool, then sends the booking again with the
same idempotency key to show that the repeat replays the first answer instead of
booking twice.

    AGENTCAL_TOKEN=agc_... .venv/bin/python examples/mcp_client.py \\
        http://127.0.0.1:8000/mcp/bots/<botId> 2026-12-07

The token comes from the environment, not the command line, where other users of the
machine could read it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from typing import Any, cast

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, RequestParamsMeta, TextContent

ATTENDEE = {"attendeeName": "Pedro Lima", "attendeeEmail": "pedro@example.com"}


def text_of(result: CallToolResult) -> str:
    """The sentence a tool answered, meant for the model."""
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    """The result as agentcal's REST API answers it: ok, content, data or error."""
    return dict(result.structured_content or {})


async def run(url: str, token: str, day: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        names = [tool.name for tool in (await client.list_tools()).tools]
        print("tools:", ", ".join(names))
        check = next((name for name in names if name.startswith("check_availability_")), None)
        if check is None:
            print("this bot offers no check_availability tool", file=sys.stderr)
            return 1
        book = "create_booking_" + check.removeprefix("check_availability_")

        found = await client.call_tool(check, {"startDate": day})
        print(f"{check}:", text_of(found))
        if found.is_error:
            return 1
        slots = structured(found)["data"]["slots"]
        if not slots or book not in names:
            return 0  # nothing free that day, or booking switched off: nothing to book

        # One idempotency key, in `_meta`, for the booking and its repeat (REST uses the
        # call id): the repeat must not book again.
        # (`RequestParamsMeta` takes any extra key, which mypy cannot see yet: a cast.)
        key = f"mcp-example-{uuid.uuid4()}"
        meta = cast(RequestParamsMeta, {"agentcal/idempotencyKey": key})
        arguments = {"start": slots[0]["start"], **ATTENDEE}
        booked = await client.call_tool(book, arguments, meta=meta)
        print(f"{book}:", text_of(booked))
        again = await client.call_tool(book, arguments, meta=meta)
        same = structured(again) == structured(booked)
        print(f"{book} again, same key:", "the same answer, replayed" if same else text_of(again))
        return 1 if booked.is_error or not same else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the bot's MCP endpoint: <agentcal>/mcp/bots/<botId>")
    parser.add_argument("day", help="the day to look at, YYYY-MM-DD, in the tool's timezone")
    args = parser.parse_args()
    token = os.environ.get("AGENTCAL_TOKEN")
    if not token:
        parser.error("set AGENTCAL_TOKEN to an agentcal access token (agc_...)")
    return asyncio.run(run(args.url, token, args.day))


if __name__ == "__main__":
    sys.exit(main())
