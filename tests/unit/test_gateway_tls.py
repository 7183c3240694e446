"""TLS through the pinned addresses: each host's certificate is verified for its own name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from shared.errors import TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import fake_resolver
from shared.redact import Redactor
from tests.support.tls import needs_openssl, throwaway_certificates

pytestmark = needs_openssl


class KeepAliveServer:
    """An HTTPS server on 127.0.0.1 that keeps connections open and counts requests."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer 200 to every request on the connection until the client closes it."""
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.split(b"\r\n", 1)[0])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def gateway_and_server(tmp_path: Path) -> AsyncIterator[tuple[Gateway, KeepAliveServer]]:
    certificates = throwaway_certificates(tmp_path, "good.test")
    state = KeepAliveServer()
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=certificates.server)
    port = server.sockets[0].getsockname()[1]
    policies = [
        EndpointPolicy(name=name, base_url=f"https://{name}.test:{port}/",
                       allow_private_network=True)
        for name in ("good", "other")
    ]  # fmt: skip
    gateway = Gateway(
        policies,
        registry=CollectorRegistry(),
        redactor=Redactor(),
        resolver=fake_resolver({"good.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}),
        tls=certificates.client(),
    )
    yield gateway, state
    await gateway.aclose()
    server.close()
    await server.wait_closed()


async def test_the_certificate_is_verified_for_the_host_name_not_the_address(
    gateway_and_server: tuple[Gateway, KeepAliveServer],
) -> None:
    gateway, server = gateway_and_server
    assert (await gateway.request("good", "GET", "/a")).text == "ok"
    assert (await gateway.request("good", "GET", "/b")).text == "ok"
    assert server.connections == 1  # kept alive and reused for the same name


async def test_a_host_sharing_an_address_never_reuses_another_hosts_connection(
    gateway_and_server: tuple[Gateway, KeepAliveServer],
) -> None:
    gateway, server = gateway_and_server
    await gateway.request("good", "GET", "/a")
    # Same address and port, a pooled connection verified for good.test is open: the certificate
    # does not name other.test, so this must fail rather than ride on good.test's connection.
    with pytest.raises(TransientError, match="ConnectError"):
        await gateway.request("other", "GET", "/secret")
    assert server.requests == [b"GET /a HTTP/1.1"]
