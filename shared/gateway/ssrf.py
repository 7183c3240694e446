"""SSRF guard: resolve a host and refuse any address that is not globally routable."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

from shared.errors import TransientError
from shared.gateway.errors import RefusedDestinationError

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# inet_aton's legacy forms (127.1, 2130706433, 0x7f000001, 0177.0.0.1) are IPv4 literals too.
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Addresses of one host tried in turn when a connection cannot be made; more would only
# stretch a dead host's attempt towards its timeout.
MAX_ADDRESSES = 4


async def default_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host:port."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (in any form a resolver accepts), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def address_problem(address: IPAddress) -> str | None:
    """Why connecting to this address is refused, or None when it is globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded)
    if address.is_loopback:
        kind = "loopback"
    elif address.is_link_local:
        kind = "link-local"
    elif address.is_unspecified:
        kind = "unspecified"
    elif address.is_multicast:
        kind = "multicast"
    elif address.is_private:
        kind = "private"
    elif not address.is_global:
        kind = "non-global"
    else:
        return None
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind} address {address}"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge that one instead.
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


async def checked_addresses(
    host: str, port: int, resolver: Resolver, *, allow_private: bool
) -> list[str]:
    """The addresses to connect to for host, in the resolver's order: resolved once, checked,
    then used as they are (at most MAX_ADDRESSES of them)."""
    literal = literal_address(host)
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await resolver(host, port)]
        except OSError as error:
            raise TransientError(f"cannot resolve {host}: {type(error).__name__}") from error
        if not found:
            raise TransientError(f"cannot resolve {host}: no addresses")
    found = [_unmapped(a) for a in found]
    if not allow_private:
        # One bad address refuses the host: a resolver may mix a global and a private answer.
        for address in found:
            problem = address_problem(address)
            if problem is not None:
                verb = "is" if literal is not None else "resolves to"
                raise RefusedDestinationError(f"{host} {verb} {problem}")
    return [str(address) for address in dict.fromkeys(found)][:MAX_ADDRESSES]


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
