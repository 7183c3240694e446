"""The SSRF guard refuses every non-global range, in every IPv6 disguise, and cloud metadata.

Checked after resolution (through `checked_addresses` with a fake resolver) and for literal
hosts; Python 3.11's `ipaddress` calls several of these ranges global, so each is listed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.gateway import EndpointPolicy, RefusedDestinationError
from shared.gateway.ssrf import checked_addresses
from shared.gateway.testing import fake_resolver, harness

HOST = "hooks.example.com"

# (address, the problem the refusal names), one concrete address per refused range.
NON_GLOBAL = [
    pytest.param("127.0.0.1", "a loopback address 127.0.0.1", id="ipv4-loopback"),
    pytest.param("::1", "a loopback address ::1", id="ipv6-loopback"),
    pytest.param("10.0.0.1", "a private address 10.0.0.1", id="rfc1918-10"),
    pytest.param("172.16.0.1", "a private address 172.16.0.1", id="rfc1918-172"),
    pytest.param("192.168.1.1", "a private address 192.168.1.1", id="rfc1918-192"),
    pytest.param("fd12:3456::1", "a private address fd12:3456::1", id="unique-local"),
    pytest.param("169.254.1.1", "a link-local address 169.254.1.1", id="ipv4-link-local"),
    pytest.param("fe80::1", "a link-local address fe80::1", id="ipv6-link-local"),
    pytest.param("100.64.0.1", "a non-global address 100.64.0.1", id="cgnat"),
    pytest.param("224.0.0.1", "a multicast address 224.0.0.1", id="ipv4-multicast"),
    pytest.param("ff0e::1", "a multicast address ff0e::1", id="ipv6-multicast"),
    pytest.param("240.0.0.1", "a private address 240.0.0.1", id="ipv4-reserved"),
    pytest.param("5f00::1", "a reserved address 5f00::1", id="ipv6-reserved"),
    pytest.param("0.0.0.0", "an unspecified address 0.0.0.0", id="ipv4-unspecified"),
    pytest.param("::", "an unspecified address ::", id="ipv6-unspecified"),
    pytest.param("192.0.0.8", "an IETF protocol assignment address 192.0.0.8", id="ietf-192.0.0"),
    pytest.param("3fff::1", "a documentation address 3fff::1", id="ipv6-documentation-3fff"),
    pytest.param("fec0::1", "a site-local address fec0::1", id="site-local"),
    # IPv6 forms that carry an IPv4 address.
    pytest.param("::ffff:127.0.0.1", "a loopback address 127.0.0.1", id="ipv4-mapped"),
    pytest.param("::127.0.0.1", "an IPv4-compatible address ::7f00:1", id="ipv4-compatible"),
    pytest.param("::808:808", "an IPv4-compatible address ::808:808", id="ipv4-compatible-public"),
    pytest.param("::ffff:0:7f00:1", "an IPv4-translated address ::ffff:0:7f00:1", id="translated"),
    pytest.param("64:ff9b::a00:1", "a private address 10.0.0.1", id="nat64"),
    pytest.param(
        "64:ff9b:1::a00:1", "a local-use NAT64 address 64:ff9b:1::a00:1", id="nat64-local-use"
    ),
    pytest.param("2002:c0a8:101::", "a private address 192.168.1.1", id="6to4-private"),
    pytest.param(
        # Server 65.54.227.120, client 10.0.0.1 (obfuscated as f5ff:fffe).
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
        "a private address 10.0.0.1",
        id="teredo-private-client",
    ),
    pytest.param(
        # Server 10.0.0.1, client 8.8.4.4 (obfuscated as f7f7:fbfb).
        "2001:0:a00:1:8000:63bf:f7f7:fbfb",
        "a private address 10.0.0.1",
        id="teredo-private-server",
    ),
]
# Globally routable, in each form: (address, the address connected to).
GLOBAL = [
    pytest.param("93.184.215.14", "93.184.215.14", id="ipv4"),
    pytest.param(
        "2606:2800:21f:cb07:6820:80da:af6b:10c8",
        "2606:2800:21f:cb07:6820:80da:af6b:10c8",
        id="ipv6",
    ),
    pytest.param("::ffff:8.8.8.8", "8.8.8.8", id="ipv4-mapped"),
    pytest.param("64:ff9b::808:808", "64:ff9b::808:808", id="nat64"),
    pytest.param("2002:808:808::1", "2002:808:808::1", id="6to4"),
    pytest.param(
        "2001:0:808:808:8000:63bf:f7f7:fbfb", "2001:0:808:808:8000:63bf:f7f7:fbfb", id="teredo"
    ),
]
METADATA_NAMES = [
    "metadata.google.internal",
    "METADATA.Google.Internal.",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "instance-data.eu-west-1.compute.internal",
    "metadata.tencentyun.com",
]
METADATA_ADDRESSES = [
    pytest.param("169.254.169.254", "169.254.169.254", id="imds"),
    pytest.param("169.254.170.2", "169.254.170.2", id="aws-ecs-credentials"),
    pytest.param("fd00:ec2::254", "fd00:ec2::254", id="aws-ipv6"),
    pytest.param("fd20:ce::254", "fd20:ce::254", id="gcp-ipv6"),
    pytest.param("100.100.100.200", "100.100.100.200", id="alibaba"),
    pytest.param("192.0.0.192", "192.0.0.192", id="oracle"),
    pytest.param("168.63.129.16", "168.63.129.16", id="azure-wireserver"),
    pytest.param("::ffff:169.254.169.254", "169.254.169.254", id="imds-ipv4-mapped"),
    pytest.param("64:ff9b::a9fe:a9fe", "169.254.169.254", id="imds-nat64"),
]


async def resolving_to(address: str, *, allow_private: bool = False) -> list[str]:
    """The checked addresses of HOST when the resolver answers `address`."""
    resolver = fake_resolver({HOST: [address]})
    return await checked_addresses(HOST, 443, resolver, allow_private=allow_private)


async def no_lookup(host: str, _port: int) -> list[str]:
    """A resolver for hosts that must never be looked up."""
    raise AssertionError(f"{host} was resolved")


@pytest.mark.parametrize(("address", "problem"), NON_GLOBAL)
async def test_a_host_resolving_to_a_non_global_range_is_refused(
    address: str, problem: str
) -> None:
    with pytest.raises(RefusedDestinationError, match=re.escape(f"{HOST} resolves to {problem}")):
        await resolving_to(address)


@pytest.mark.parametrize(("address", "problem"), NON_GLOBAL)
async def test_a_literal_non_global_address_is_refused(address: str, problem: str) -> None:
    with pytest.raises(RefusedDestinationError, match=re.escape(f"{address} is {problem}")):
        await checked_addresses(address, 443, no_lookup, allow_private=False)


@pytest.mark.parametrize(("address", "connected"), GLOBAL)
async def test_globally_routable_addresses_still_pass(address: str, connected: str) -> None:
    assert await resolving_to(address) == [connected]
    assert await checked_addresses(address, 443, no_lookup, allow_private=False) == [connected]


async def test_ipv4_compatible_ipv6_loopback_is_refused() -> None:
    with pytest.raises(RefusedDestinationError, match="IPv4-compatible address ::7f00:1"):
        await resolving_to("::7f00:1")


async def test_teredo_is_refused_when_either_embedded_ipv4_is_not_global() -> None:
    # 4136:e378 is server 65.54.227.120, f7f7:fbfb the obfuscated client 8.8.4.4.
    assert await resolving_to("2001:0:4136:e378:8000:63bf:f7f7:fbfb")
    with pytest.raises(RefusedDestinationError, match=r"a loopback address 127\.0\.0\.1"):
        await resolving_to("2001:0:7f00:1:8000:63bf:f7f7:fbfb")  # server 127.0.0.1
    with pytest.raises(RefusedDestinationError, match=r"a private address 192\.168\.1\.1"):
        await resolving_to("2001:0:4136:e378:8000:63bf:3f57:fefe")  # client 192.168.1.1


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("name", METADATA_NAMES)
async def test_cloud_metadata_names_are_refused_before_resolving(
    name: str, allow_private: bool
) -> None:
    with pytest.raises(
        RefusedDestinationError, match=re.escape(f"{name} is a cloud metadata name")
    ):
        await checked_addresses(name, 80, no_lookup, allow_private=allow_private)


@pytest.mark.parametrize(
    "name", ["metadata.example.com", "my-metadata.google.internal.example.org", "instance-data.io"]
)
async def test_names_merely_like_metadata_ones_pass(name: str) -> None:
    resolver = fake_resolver({name: ["93.184.215.14"]})
    assert await checked_addresses(name, 443, resolver, allow_private=False) == ["93.184.215.14"]


@pytest.mark.parametrize(("address", "metadata"), METADATA_ADDRESSES)
async def test_cloud_metadata_addresses_are_refused_even_with_allow_private_network(
    address: str, metadata: str
) -> None:
    problem = re.escape(f"a cloud metadata address {metadata}")
    with pytest.raises(RefusedDestinationError, match=f"{HOST} resolves to {problem}"):
        await resolving_to(address, allow_private=True)
    with pytest.raises(RefusedDestinationError, match=f"is {problem}"):
        await checked_addresses(address, 80, no_lookup, allow_private=True)


async def test_the_azure_wireserver_is_refused_though_it_is_a_public_address() -> None:
    with pytest.raises(RefusedDestinationError, match=r"a cloud metadata address 168\.63\.129\.16"):
        await resolving_to("168.63.129.16")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "fd12::1", "::7f00:1", "::1"])
async def test_allow_private_network_still_opens_local_stand_ins(address: str) -> None:
    assert await resolving_to(address, allow_private=True) == [address]


def ipv6_forms(ipv4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    """Every IPv6 spelling that carries `ipv4`, by name."""
    n, v6 = int(ipv4), ipaddress.IPv6Address
    teredo = int(v6("2001::")) | 0x8000_63BF << 32
    return {
        "mapped": v6(0xFFFF << 32 | n),
        "compatible": v6(n),
        "translated": v6(0xFFFF << 48 | n),
        "nat64": v6(int(v6("64:ff9b::")) | n),
        "6to4": v6(0x2002 << 112 | n << 80),
        # The other end is public 8.8.8.8; the client is stored inverted (RFC 4380 §4).
        "teredo-server": v6(teredo | n << 64 | 0xF7F7F7F7),
        "teredo-client": v6(teredo | 0x0808_0808 << 64 | n ^ 0xFFFFFFFF),
    }


NON_GLOBAL_IPV4 = st.one_of(
    st.sampled_from(["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8"])
    .map(ipaddress.IPv4Network)
    .flatmap(lambda network: st.ip_addresses(network=network)),
    st.ip_addresses(v=4),
).filter(lambda address: not address.is_global)


@settings(max_examples=200, deadline=None)
@given(ipv4=NON_GLOBAL_IPV4)
def test_every_ipv6_form_of_a_non_global_ipv4_is_refused(ipv4: ipaddress.IPv4Address) -> None:
    assert isinstance(ipv4, ipaddress.IPv4Address)
    let_through = []
    for form, address in ipv6_forms(ipv4).items():
        try:
            asyncio.run(resolving_to(str(address)))
        except RefusedDestinationError:
            continue
        let_through.append(f"{form} {address}")
    assert let_through == [], f"forms of {ipv4} let through"


async def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("::ffff:0:7f00:1", "an IPv4-translated address ::ffff:0:7f00:1"),
        ("64:ff9b:1::7f00:1", "a local-use NAT64 address 64:ff9b:1::7f00:1"),
        ("::7f00:1", "an IPv4-compatible address ::7f00:1"),
    ],
)
async def test_the_gateway_sends_nothing_to_a_host_resolving_to_a_disguised_loopback(
    address: str, problem: str
) -> None:
    hook = EndpointPolicy(name="hook", base_url=f"https://{HOST}/in", max_retries=0)
    h = harness(ok, hook, hosts={HOST: [address]})
    with pytest.raises(RefusedDestinationError, match=re.escape(f"{HOST} resolves to {problem}")):
        await h.gateway.request("hook", "POST", content=b"{}")
    assert h.requests == []
    await h.gateway.aclose()


async def test_the_gateway_never_reaches_cloud_metadata_even_with_allow_private_network() -> None:
    for url in ["http://metadata.google.internal/computeMetadata/v1/", "http://169.254.169.254/"]:
        local = EndpointPolicy(
            name="local", base_url=url, max_retries=0, allow_private_network=True
        )
        h = harness(ok, local, hosts={"metadata.google.internal": ["169.254.169.254"]})
        with pytest.raises(RefusedDestinationError, match="cloud metadata"):
            await h.gateway.request("local", "GET")
        assert h.requests == []
        await h.gateway.aclose()
