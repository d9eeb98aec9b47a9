"""Which addresses a webhook may reach, checked when it connects.

An integrator chooses the webhook target, so without a guard agentcal would send
requests wherever it is told: to itself, to a database on the private network, to a
cloud's metadata service. Only public unicast addresses are allowed. The check runs
where the connection is made (`GuardedBackend`): the host is resolved, every address
it resolves to is checked, and the connection goes to a checked address, so a DNS
answer that changes between a check and a connect cannot slip a private address past
it. IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64)
are judged by that address too. Redirects are never followed.

`AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE=true` lifts the guard, for tests and labs.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")  # the deprecated IPv4-compatible form


class ForbiddenTarget(Exception):
    """The target's host is, or resolves to, an address notifications may not reach."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, in any of its forms, or None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in net for net in _NAT64) or (
        address in _COMPATIBLE and int(address) > 1  # not :: or ::1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_kind(address: IPAddress) -> str | None:
    """What kind of forbidden address this is ("loopback", "private", …), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:  # it reaches the IPv4 address: judged as that address
            kind = forbidden_kind(inner)
            return f"{kind} (inside an IPv6 address)" if kind else None
    if address in _METADATA:
        return "cloud metadata"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"  # fec0::/10: deprecated, still private in effect
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking, …
        return "non-public"
    return None


_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}", re.I)


def _host_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver reads as one: also
    `127.1`, `2130706433`, `0x7f.1` (the C library's forms), which `ipaddress` does not."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def literal_problem(url: str) -> str | None:
    """Why a target URL names a forbidden host outright (no DNS needed), or None."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "the target's host is localhost, which notifications may not reach"
    address = _host_address(host)
    if address is not None and (kind := forbidden_kind(address)):
        return f"the target's host is {_a(kind)} address, which notifications may not reach"
    if _NUMERIC_HOST.fullmatch(host) and str(address) != host:
        # `127.1`, `017.0.0.1`: read differently by different programs.
        return "write the target's address in its usual form, four decimal numbers (a.b.c.d)"
    return None


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address is itself)."""
    literal = _host_address(host)
    if literal is not None:
        return [literal]
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def check(addresses: Iterable[IPAddress]) -> None:
    """Raise `ForbiddenTarget` if any of the addresses is forbidden: a host that
    resolves to one private address among public ones is refused as a whole."""
    for address in addresses:
        if kind := forbidden_kind(address):
            # The kind, not the address or the host: the target is the integrator's secret.
            raise ForbiddenTarget(f"the target's host resolves to {_a(kind)} address")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked public addresses."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve(host, port)
        except (OSError, TimeoutError) as exc:  # no such name, no DNS answer in time
            raise httpcore.ConnectError(f"the name did not resolve ({type(exc).__name__})") from exc
        if not addresses:
            raise httpcore.ConnectError("the name resolves to no address")
        check(addresses)
        # Each checked address in turn (an IPv6 one first may be unreachable here).
        # TLS still verifies the certificate against the host name: httpcore passes the
        # request's host as the server name, whatever address the stream connects to.
        failure: Exception | None = None
        for address in dict.fromkeys(addresses):
            try:
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenTarget("notifications never connect to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def client(timeout: float, *, guarded: bool) -> httpx.AsyncClient:
    """An HTTP client for deliveries: no redirects, no proxies from the environment (a
    proxy would connect for us, past the guard), and the guard unless `guarded` is off."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    if guarded:
        # httpx does not take a network backend; its transport's pool is httpcore's,
        # which does. tests/notifications/test_addresses.py fails if this stops working.
        transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(),
        )
    limits = httpx.Timeout(timeout, connect=min(timeout, 5.0))
    return httpx.AsyncClient(
        transport=transport, timeout=limits, follow_redirects=False, trust_env=False
    )
