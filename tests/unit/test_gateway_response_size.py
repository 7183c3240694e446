"""Response bodies are read up to the endpoint's `max_response_bytes`, never further."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.errors import ResponseTooLargeError
from shared.gateway.testing import Handler, harness
from shared.redact import Redactor

LIMIT = 1000
CRM = EndpointPolicy(name="crm", base_url="https://api.example.com/", max_response_bytes=LIMIT)


class Endless(httpx.AsyncByteStream):
    """A body that never ends, counting the chunks it was asked for."""

    def __init__(self, chunk: bytes = b"x" * 100) -> None:
        self.chunk = chunk
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1
            yield self.chunk

    async def aclose(self) -> None:
        """Note that the gateway let go of the body."""
        self.closed = True


def answering(response: httpx.Response) -> Handler:
    async def handle(_: httpx.Request) -> httpx.Response:
        return response

    return handle


async def test_a_body_up_to_the_limit_is_read_whole() -> None:
    body = b"y" * LIMIT
    h = harness(answering(httpx.Response(200, content=body)), CRM)
    response = await h.gateway.request("crm", "GET", "/export")
    assert response.content == body
    await h.gateway.aclose()


async def test_an_endless_2xx_body_is_cut_off_and_is_a_permanent_error() -> None:
    stream = Endless()
    h = harness(answering(httpx.Response(200, stream=stream)), CRM)
    with pytest.raises(ResponseTooLargeError, match=r"crm: GET /export answered 200 with a body "
                       r"over the 1000-byte max_response_bytes") as caught:  # fmt: skip
        await h.gateway.request("crm", "GET", "/export")
    assert isinstance(caught.value, PermanentError)
    assert stream.sent <= LIMIT // len(stream.chunk) + 1
    assert stream.closed
    # A read that cannot fit will not fit on a retry either.
    assert len(h.requests) == 1
    await h.gateway.aclose()


async def test_oversized_answers_do_not_open_the_breaker() -> None:
    async def endless(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    h = harness(endless, CRM)
    for _ in range(CRM.breaker_min_calls * 2):
        with pytest.raises(ResponseTooLargeError):
            await h.gateway.request("crm", "GET", "/export")
    # The endpoint answered every time: an oversized body says nothing about its health.
    assert h.gateway.breaker_state("crm") == "closed"
    await h.gateway.aclose()


async def test_a_compressed_body_counts_by_its_decoded_size() -> None:
    bomb = gzip.compress(b"\0" * (LIMIT * 100))
    assert len(bomb) < LIMIT
    response = httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
    h = harness(answering(response), CRM)
    with pytest.raises(ResponseTooLargeError):
        await h.gateway.request("crm", "GET", "/export")
    await h.gateway.aclose()


async def test_an_endless_error_body_is_cut_and_the_status_still_decides() -> None:
    stream = Endless(b"upstream exploded " * 10)
    h = harness(answering(httpx.Response(503, stream=stream)), CRM)
    with pytest.raises(TransientError, match=r"crm: POST /orders returned 503: upstream exploded"):
        await h.gateway.request("crm", "POST", "/orders", json={})
    assert stream.closed
    await h.gateway.aclose()


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(Exception, match="max_response_bytes must be > 0"):
        EndpointPolicy(name="crm", base_url="https://api.example.com/", max_response_bytes=0)


async def test_a_real_server_streaming_forever_does_not_hold_the_call() -> None:
    written = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"400\r\n" + b"z" * 0x400 + b"\r\n")
                written += 0x400
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(endless, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="stream",
        base_url=f"http://127.0.0.1:{port}/",
        allow_private_network=True,
        max_response_bytes=64 * 1024,
        timeout=30,
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
    try:
        with pytest.raises(ResponseTooLargeError):
            await asyncio.wait_for(gateway.request("stream", "GET", "/"), 10)
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()
    # The gateway hung up: the server could not push much past the limit plus socket buffers.
    assert written < 16 * 1024 * 1024
