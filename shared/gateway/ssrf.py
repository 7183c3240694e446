"""SSRF guard: resolve a host and refuse any address that is not globally routable."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from functools import lru_cache

from shared.errors import TransientError
from shared.gateway.errors import RefusedDestinationError

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# inet_aton's legacy forms (127.1, 2130706433, 0x7f000001, 0177.0.0.1) are IPv4 literals too.
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
# RFC 6052 well-known NAT64 prefix: the translator connects to the IPv4 in the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Ranges Python 3.11's is_global calls global (the IPv6 ones show only as is_reserved, for
# lying in ::/8). Refused outright, any embedded IPv4 unjudged: none is a public destination,
# and a local-use NAT64 operator picks where its IPv4 sits (RFC 6052 §2.2).
_NOT_GLOBAL: tuple[tuple[IPNetwork, str], ...] = (
    # RFC 4291 §2.5.5.1: IPv4-compatible, deprecated; a Linux sit0 tunnels it to that IPv4.
    (ipaddress.IPv6Network("::/96"), "IPv4-compatible"),
    # RFC 2765 §2.1 (SIIT; RFC 6145 dropped it): IPv4-translated, inside a translator's domain.
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), "IPv4-translated"),
    # RFC 8215: local-use NAT64, for one operator's own translators.
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "local-use NAT64"),
    # RFC 6890 §2.2.2: IETF protocol assignments (Oracle's metadata service is 192.0.0.192).
    (ipaddress.IPv4Network("192.0.0.0/24"), "IETF protocol assignment"),
    # RFC 9637: IPv6 documentation, like 2001:db8::/32.
    (ipaddress.IPv6Network("3fff::/20"), "documentation"),
)
# Cloud metadata services hand out credentials: refused even where private networks are
# allowed. GCP: metadata.google.internal, its alias metadata.goog, and `metadata` through the
# google.internal search domain; AWS: instance-data through ec2.internal or
# <region>.compute.internal; Tencent: metadata.tencentyun.com.
_METADATA_NAME = re.compile(
    r"metadata(\.google\.internal|\.goog|\.tencentyun\.com)?"
    r"|instance-data((\.ec2|\.[a-z0-9-]+\.compute)\.internal)?"
)
_METADATA_NETWORKS: tuple[IPNetwork, ...] = (
    # RFC 3927 link-local: AWS (IMDS .169.254, ECS .170.2, EKS .170.23), GCP, Azure, Oracle,
    # Tencent (.0.23); no local stand-in lives there.
    ipaddress.IPv4Network("169.254.0.0/16"),
    ipaddress.IPv6Network("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    ipaddress.IPv6Network("fd00:ec2::23/128"),  # AWS EKS Pod Identity over IPv6
    ipaddress.IPv6Network("fd20:ce::254/128"),  # GCP over IPv6
    ipaddress.IPv4Network("100.100.100.200/32"),  # Alibaba Cloud
    ipaddress.IPv4Network("192.0.0.192/32"),  # Oracle Cloud
    ipaddress.IPv4Network("168.63.129.16/32"),  # Azure WireServer, a public address
)
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
    """Why connecting to this address is refused, or None when it is a public destination."""
    embedded = _embedded_ipv4(address)
    if embedded:
        return next(filter(None, map(address_problem, embedded)), None)
    missed = next((kind for network, kind in _NOT_GLOBAL if address in network), None)
    if address.is_loopback:
        kind = "loopback"
    elif address.is_link_local:
        kind = "link-local"
    elif address.is_unspecified:
        kind = "unspecified"
    elif address.is_multicast:
        kind = "multicast"
    elif isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        kind = "site-local"  # RFC 3879 deprecated fec0::/10, yet 3.11 calls it global
    elif missed is not None:
        kind = missed
    elif address.is_private:
        kind = "private"
    elif address.is_reserved:
        kind = "reserved"
    elif not address.is_global:
        kind = "non-global"  # 100.64.0.0/10, CGNAT (RFC 6598)
    else:
        return _metadata_problem(address)
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind} address {address}"


def _embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge that one instead.
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    if address.ipv4_mapped is not None:  # RFC 4291 §2.5.5.2
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:  # RFC 3056
        return (address.sixtofour,)
    if address.teredo is not None:  # RFC 4380: (server, client), both reached through it
        return address.teredo
    return ()


def _metadata_problem(address: IPAddress) -> str | None:
    for carried in (address, *_embedded_ipv4(address)):
        if any(carried in network for network in _METADATA_NETWORKS):
            return f"a cloud metadata address {carried}"
    return None


async def checked_addresses(
    host: str,
    port: int,
    resolver: Resolver,
    *,
    allow_private: bool,
    resolve_timeout: float | None = None,
) -> list[str]:
    """The addresses to connect to for host, in the resolver's order: resolved once (within
    `resolve_timeout` s), checked, then used as they are (at most MAX_ADDRESSES of them)."""
    if _METADATA_NAME.fullmatch(host.lower().rstrip(".")):
        raise RefusedDestinationError(f"{host} is a cloud metadata name")
    literal = literal_address(host)
    if literal is not None:
        return list(_checked_literal(host, literal, allow_private=allow_private))
    try:
        async with asyncio.timeout(resolve_timeout):
            answers = await resolver(host, port)
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    except OSError as error:
        raise TransientError(f"cannot resolve {host}: {type(error).__name__}") from error
    if not found:
        raise TransientError(f"cannot resolve {host}: no addresses")
    return _checked(host, found, allow_private=allow_private, verb="resolves to")


@lru_cache(maxsize=256)  # the same few literal hosts, judged on every call otherwise (~15 µs)
def _checked_literal(host: str, literal: IPAddress, *, allow_private: bool) -> tuple[str, ...]:
    return tuple(_checked(host, [literal], allow_private=allow_private, verb="is"))


def _checked(host: str, found: list[IPAddress], *, allow_private: bool, verb: str) -> list[str]:
    found = [_unmapped(a) for a in found]
    # One bad address refuses the host: a resolver may mix a global and a private answer.
    for address in found:
        problem = _metadata_problem(address) if allow_private else address_problem(address)
        if problem is not None:
            raise RefusedDestinationError(f"{host} {verb} {problem}")
    return [str(address) for address in dict.fromkeys(found)][:MAX_ADDRESSES]


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
