"""The address guard: which targets are refused when saved, and when sent."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from agentcal.notifications import addresses
from agentcal.notifications.worker import Worker
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import notifying, save_function, sink_url
from tests.providers.google_calendar.functions_support import error_fields
from tests.support import wait_until

FORBIDDEN = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "240.0.0.1": "private",  # reserved (Python files it under private too)
    "100.64.0.1": "non-public",  # shared address space (carrier NAT)
    "::1": "loopback",
    "::": "unspecified",
    "fec0::1": "site-local",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "ff02::1": "multicast",
    "fd00:ec2::254": "cloud metadata",
    "::ffff:127.0.0.1": "loopback (inside an IPv6 address)",
    "::ffff:169.254.169.254": "cloud metadata (inside an IPv6 address)",
    "::ffff:10.0.0.1": "private (inside an IPv6 address)",
    "::127.0.0.1": "loopback (inside an IPv6 address)",  # IPv4-compatible
    "2002:7f00:1::": "loopback (inside an IPv6 address)",  # 6to4
    "64:ff9b::a00:1": "private (inside an IPv6 address)",  # NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback (inside an IPv6 address)",  # Teredo
}
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN.items())
def test_forbidden_addresses_are_named_by_kind(address: str, kind: str) -> None:
    assert addresses.forbidden_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert addresses.forbidden_kind(ipaddress.ip_address(address)) is None


def test_one_forbidden_address_among_public_ones_refuses_the_host() -> None:
    mixed = [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(addresses.ForbiddenTarget, match="loopback"):
        addresses.check(mixed)


LITERAL_TARGETS = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.7/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "https://localhost/hook",
    "http://api.localhost/hook",
    "http://127.1/hook",  # 127.0.0.1, as the C library reads it
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f.0.0.1/hook",
    "http://017.0.0.1/hook",  # octal to some programs, decimal to others
    "http://[fec0::1]/hook",  # site-local
]


@pytest.mark.parametrize("target", LITERAL_TARGETS)
async def test_a_literal_forbidden_target_is_refused_when_saved(
    tenant: Tenant, sandbox: SandboxServer, target: str
) -> None:
    response = await save_function(
        tenant, sandbox, notificationType="webhook", notificationTarget=target
    )
    assert error_fields(response) == ["googleCalendar.notificationTarget"]
    assert "AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE" in response.json()["detail"]
    assert target not in response.text  # the target is a secret, even when refused


async def _dead_reason(function: Any) -> str:
    found: list[dict[str, Any]] = []

    async def dead() -> bool:
        nonlocal found
        found = await function.listed(status="dead")
        return bool(found)

    await wait_until(dead, timeout=10, interval=0.05)
    [notification] = found
    assert notification["attempts"] == 1  # refused at once, never retried
    reason: str = notification["lastError"]
    return reason


async def test_a_name_resolving_to_loopback_is_refused_when_sent(
    tenant: Tenant,
    sandbox: SandboxServer,
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DNS name passes the check at saving; at sending it resolves to 127.0.0.1 (the
    sandbox's own address, which would answer) and the guard refuses to connect."""
    real = anyio.getaddrinfo

    async def rebinding(host: str, port: Any, **kwargs: Any) -> Any:
        if host == "hooks.rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", rebinding)
    port = sandbox.url.rsplit(":", 1)[1]
    target = f"http://hooks.rebind.example:{port}/sandbox/webhooks/rebound"
    function = await notifying(tenant, sandbox, "webhook", target)
    start_worker(notifications_allow_private=False)
    await function.book("10:00")
    reason = await _dead_reason(function)
    assert reason == "forbidden-target: the target's host resolves to a loopback address"
    assert "rebind" not in reason
    assert sandbox.state.channels.sink.get("rebound", []) == []


async def test_a_private_target_saved_in_a_lab_is_refused_by_a_guarded_worker(
    tenant: Tenant,
    sandbox: SandboxServer,
    lab: Any,
    start_worker: Callable[..., Worker],
) -> None:
    function = await notifying(tenant, sandbox, "webhook", sink_url(sandbox, "guarded"))
    start_worker(notifications_allow_private=False)
    await function.book("10:00")
    assert (await _dead_reason(function)).startswith("forbidden-target: ")
    assert sandbox.state.channels.sink.get("guarded", []) == []


async def test_redirects_are_not_followed(
    tenant: Tenant, sandbox: SandboxServer, lab: Any, start_worker: Callable[..., Worker]
) -> None:
    function = await notifying(
        tenant, sandbox, "webhook", sink_url(sandbox, "moved") + "?answers=307"
    )
    start_worker()
    await function.book("10:00")
    reason = await _dead_reason(function)
    assert reason.startswith("the target redirects (HTTP 307); redirects are not followed")
