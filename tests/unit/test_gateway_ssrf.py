"""The SSRF guard: non-global addresses in any spelling are refused, checked ones are pinned."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest
from prometheus_client import CollectorRegistry

from shared.errors import TransientError
from shared.gateway import EndpointPolicy, Gateway, RefusedDestinationError, default_resolver
from shared.gateway.ssrf import address_problem, literal_address
from shared.gateway.target import pin
from shared.gateway.testing import PUBLIC_ADDRESS, fake_resolver, harness
from shared.redact import Redactor

HOSTS = {
    "internal.example.com": ["127.0.0.1"],
    "mapped.example.com": ["::ffff:10.1.2.3"],
    "mixed.example.com": [PUBLIC_ADDRESS, "192.168.1.20"],
    "api.example.com": [PUBLIC_ADDRESS],
}
REFUSED = [
    ("http://127.1/", "loopback address 127.0.0.1"),
    ("http://2130706433/", "loopback address 127.0.0.1"),
    ("http://0x7f000001/", "loopback address 127.0.0.1"),
    ("http://[::ffff:127.0.0.1]/", "loopback address 127.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
    ("http://100.64.0.1/", "non-global address 100.64.0.1"),
    ("http://10.0.0.5:8080/", "private address 10.0.0.5"),
    ("http://[::1]/", "loopback address ::1"),
    ("http://internal.example.com/", "resolves to a loopback address 127.0.0.1"),
    ("https://mapped.example.com/", "resolves to a private address 10.1.2.3"),
    ("https://mixed.example.com/", "resolves to a private address 192.168.1.20"),
]


async def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


def policy(url: str, *, allow_private_network: bool = False) -> EndpointPolicy:
    return EndpointPolicy(
        name="hook", base_url=url, max_retries=0, allow_private_network=allow_private_network
    )


@pytest.mark.parametrize(("url", "reason"), REFUSED)
async def test_non_global_destinations_are_refused(url: str, reason: str) -> None:
    h = harness(ok, policy(url), hosts=HOSTS)
    with pytest.raises(RefusedDestinationError, match=reason) as caught:
        await h.gateway.request("hook", "POST", content=b"{}")
    assert caught.value.reason_class == "refused"
    assert h.requests == []
    refused = {"integration": "hook", "method": "POST", "status_class": "none"}
    assert h.metric("eventyard_outbound_requests_total", **refused, outcome="refused") == 1
    # A refusal says nothing about the endpoint's health.
    assert h.gateway.breaker_state("hook") == "closed"
    await h.gateway.aclose()


# The metadata service stays refused even then (tests/security/test_ssrf_guard.py).
LOCAL_STAND_INS = [(url, reason) for url, reason in REFUSED if "169.254.169.254" not in url]


@pytest.mark.parametrize(("url", "_reason"), LOCAL_STAND_INS)
async def test_allow_private_network_lets_them_through(url: str, _reason: str) -> None:
    h = harness(ok, policy(url, allow_private_network=True), hosts=HOSTS)
    await h.gateway.request("hook", "POST", content=b"{}")
    (sent,) = h.requests
    assert ipaddress.ip_address(sent.url.host)
    assert sent.headers["Host"] == httpx.URL(url).netloc.decode()
    await h.gateway.aclose()


async def test_the_checked_address_is_the_one_connected_to() -> None:
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    h = harness(ok, policy("https://hooks.example.org:8443/in?x=1"), resolver=rebinding)
    await h.gateway.request("hook", "POST")
    sent = h.requests[0]
    assert str(sent.url) == "https://93.184.215.14:8443/in?x=1"
    assert sent.headers["Host"] == "hooks.example.org:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.org"
    # The second lookup answers with loopback: that request never leaves.
    with pytest.raises(RefusedDestinationError):
        await h.gateway.request("hook", "POST")
    assert len(h.requests) == 1
    await h.gateway.aclose()


async def test_an_unresolvable_host_is_transient() -> None:
    h = harness(ok, policy("https://nowhere.example.com/"), hosts={})
    with pytest.raises(TransientError, match=r"cannot resolve nowhere\.example\.com: gaierror"):
        await h.gateway.request("hook", "GET")
    await h.gateway.aclose()


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("cafe.example", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    literal = literal_address(host)
    assert (str(literal) if literal else None) == address


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::a00:5", "a private address 10.0.0.5"),
        ("2002:7f00:1::", "a loopback address 127.0.0.1"),
        ("fe80::1", "a link-local address fe80::1"),
        ("fd00::1", "a private address fd00::1"),
        ("224.0.0.251", "a multicast address 224.0.0.251"),
        ("0.0.0.0", "an unspecified address 0.0.0.0"),
    ],
)
def test_address_problems(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


def test_pinning_a_literal_address_sends_no_sni() -> None:
    pinned = pin(httpx.URL("https://[2606:4700::1]/x"), "2606:4700::1")
    assert pinned.extensions == {}
    assert pinned.host_header == "[2606:4700::1]"


async def test_the_default_resolver_answers_numeric_hosts_without_dns() -> None:
    assert await default_resolver("127.0.0.1", 80) == ["127.0.0.1"]
    assert await fake_resolver({"a": ["1.1.1.1"]})("a", 443) == ["1.1.1.1"]


async def test_a_real_transport_connects_to_the_pinned_address() -> None:
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    local = policy(f"http://hooks.internal:{port}/in", allow_private_network=True)
    gateway = Gateway(
        [local],
        registry=CollectorRegistry(),
        redactor=Redactor(),
        resolver=fake_resolver({"hooks.internal": ["127.0.0.1"]}),
    )
    try:
        response = await gateway.request("hook", "POST", "?n=1", content=b"{}")
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()
    assert response.text == "ok"
    request_line, *lines = heads[0].split(b"\r\n")
    assert request_line == b"POST /in?n=1 HTTP/1.1"
    fields = dict(line.split(b": ", 1) for line in lines if line)
    assert {k.lower(): v for k, v in fields.items()}[b"host"] == f"hooks.internal:{port}".encode()
