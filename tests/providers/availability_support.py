"""Helpers of the availability cache tests, shared by both providers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agentcal.sandbox.faults import Fault
from tests.conftest import SandboxServer
from tests.support import wait_until

Ask = Callable[[], Awaitable[dict[str, Any]]]


async def stale_then_fresh(
    ask: Ask, sandbox: SandboxServer, slow: Fault
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The deadline at work: a first answer, then with the provider made `slow` the
    same question asked until it is answered stale, then until a fresh answer came
    (the request that went on). The three results; `slow` is removed after."""
    first = await ask()
    assert first["data"]["fresh"] is True
    sandbox.state.faults.rules.append(slow)
    stale: dict[str, Any] = {}
    fresh: dict[str, Any] = {}
    try:

        async def stale_given() -> bool:
            stale.update(await ask())
            return stale["data"]["fresh"] is False

        await wait_until(stale_given)

        async def new_answer() -> bool:
            fresh.update(await ask())
            return fresh["data"]["fresh"] is True

        await wait_until(new_answer)
    finally:
        if slow in sandbox.state.faults.rules:
            sandbox.state.faults.rules.remove(slow)
    return first, stale, fresh
