"""The aiohttp pool under the gateway: what each failure is called, and what is never kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import fake_resolver
from shared.redact import Redactor

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A local HTTP server whose answer each test writes; counts connections and requests."""

    def __init__(self, answer: Serve) -> None:
        self.answer = answer
        self.connections = 0
        self.heads: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read request heads and let the test's answer reply, until the client goes."""
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                await self.answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def gateway_to(server: Server, *, addresses: list[str]) -> AsyncIterator[Gateway]:
    """A gateway whose `hook` endpoint resolves to `addresses`, on the server's port."""
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="hook",
        base_url=f"http://hooks.internal:{port}/in",
        allow_private_network=True,
        max_retries=0,
        timeout=2.0,
    )
    gateway = Gateway(
        [policy],
        registry=CollectorRegistry(),
        redactor=Redactor(),
        resolver=fake_resolver({"hooks.internal": addresses}),
    )
    try:
        yield gateway
    finally:
        await gateway.aclose()
        listener.close()
        await listener.wait_closed()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close the connection after the request arrived, answering nothing."""
    raise ConnectionResetError


async def giant_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer with a header line longer than any client accepts."""
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def set_cookie(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer 200 and ask the client to keep a session cookie."""
    cookie = b"Set-Cookie: session=abc; Path=/\r\n"
    writer.write(b"HTTP/1.1 200 OK\r\n" + cookie + b"Content-Length: 2\r\n\r\nok")
    await writer.drain()


async def test_a_connection_dropped_after_the_request_is_not_sent_to_the_next_address() -> None:
    server = Server(hang_up)
    # 127.0.0.2 is loopback too; were the drop read as "nothing was sent", the POST would go
    # there as well (the gateway tries a host's next address only after a connect error).
    async for gateway in gateway_to(server, addresses=["127.0.0.1", "127.0.0.2"]):
        with pytest.raises(TransientError, match="RemoteProtocolError"):
            await gateway.request("hook", "POST", content=b"{}")
    assert len(server.heads) == 1


async def test_a_response_header_too_long_is_a_transient_error_not_an_aiohttp_one() -> None:
    async for gateway in gateway_to(Server(giant_header), addresses=["127.0.0.1"]):
        with pytest.raises(TransientError, match="RemoteProtocolError"):
            await gateway.request("hook", "POST", content=b"{}")


async def test_an_unreachable_address_is_a_connect_error_and_the_next_address_is_tried() -> None:
    server = Server(set_cookie)
    # Port of the server on 127.0.0.1; nothing listens on that port of 127.0.0.3.
    async for gateway in gateway_to(server, addresses=["127.0.0.3", "127.0.0.1"]):
        assert (await gateway.request("hook", "POST", content=b"{}")).text == "ok"
    assert len(server.heads) == 1


async def test_cookies_a_destination_sets_are_never_sent_back() -> None:
    server = Server(set_cookie)
    async for gateway in gateway_to(server, addresses=["127.0.0.1"]):
        await gateway.request("hook", "POST", content=b"{}")
        await gateway.request("hook", "POST", content=b"{}")
    assert len(server.heads) == 2
    assert all(b"cookie" not in head.lower().replace(b"set-cookie", b"") for head in server.heads)
    assert server.connections == 1  # and the connection was kept alive between the two


def big_then_small() -> Serve:
    """Answer the first request with a body over any small limit, later ones with `ok`."""
    answered = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        body = b"x" * 5_000_000 if answered == 0 else b"ok"
        answered += 1
        length = str(len(body)).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n" + body)
        await writer.drain()

    return answer


async def test_a_body_cut_at_the_limit_closes_its_connection_and_the_next_call_works() -> None:
    server = Server(big_then_small())
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="hook",
        base_url=f"http://127.0.0.1:{port}/in",
        allow_private_network=True,
        max_retries=0,
        max_response_bytes=1024,
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
    try:
        with pytest.raises(PermanentError, match="max_response_bytes"):
            await gateway.request("hook", "POST", content=b"{}")
        # The cut connection still holds most of the first body: reusing it would read that
        # as the next answer. A fresh connection answers the second call.
        assert (await gateway.request("hook", "POST", content=b"{}")).text == "ok"
    finally:
        await gateway.aclose()
        listener.close()
        await listener.wait_closed()
    assert server.connections == 2
