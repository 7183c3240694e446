"""A host's checked addresses are tried in turn when a connection cannot be made, and only then."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.ssrf import MAX_ADDRESSES
from shared.gateway.testing import Handler, Harness, fake_resolver, harness
from shared.redact import Redactor

FIRST, SECOND = "93.184.215.14", "93.184.215.15"
HOOK = EndpointPolicy(name="hook", base_url="https://hooks.example.com/in")


Answer = httpx.Response | Exception


def by_address(first: Answer, others: Answer | None = None) -> Handler:
    """A transport answering (or failing) with `first` on FIRST and `others` (200 "ok")
    elsewhere."""

    async def handle(request: httpx.Request) -> httpx.Response:
        answer = first if request.url.host == FIRST else others
        if answer is None:
            return httpx.Response(200, text="ok")
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


def tried(h: Harness) -> list[str]:
    """The addresses the gateway sent requests to, in order."""
    return [r.url.host for r in h.requests]


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no answer")]
)
async def test_the_next_address_is_tried_when_the_first_cannot_be_reached(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(by_address(failure), HOOK, hosts={"hooks.example.com": [FIRST, SECOND]})
    response = await h.gateway.request("hook", "POST", content=b"{}")
    assert response.text == "ok"
    assert tried(h) == [FIRST, SECOND]
    assert all(r.headers["Host"] == "hooks.example.com" for r in h.requests)
    assert f"hook: POST /: no connection to {FIRST}" in caplog.text
    await h.gateway.aclose()


async def test_a_failure_after_connecting_is_not_sent_again_elsewhere() -> None:
    # The request may have reached the first address: only the retry policy may repeat it.
    h = harness(
        by_address(httpx.ReadTimeout("slow")), HOOK, hosts={"hooks.example.com": [FIRST, SECOND]}
    )
    with pytest.raises(TransientError, match="timed out"):
        await h.gateway.request("hook", "POST", content=b"{}")
    assert tried(h) == [FIRST]
    await h.gateway.aclose()


async def test_an_answer_from_the_first_address_is_final() -> None:
    h = harness(by_address(httpx.Response(404)), HOOK, hosts={"hooks.example.com": [FIRST, SECOND]})
    with pytest.raises(PermanentError, match="returned 404"):
        await h.gateway.request("hook", "POST", content=b"{}")
    assert tried(h) == [FIRST]
    await h.gateway.aclose()


async def test_at_most_max_addresses_are_tried() -> None:
    addresses = [f"93.184.215.{n}" for n in range(10, 20)]
    refused = httpx.ConnectError("refused")
    h = harness(by_address(refused, refused), HOOK, hosts={"hooks.example.com": addresses})
    with pytest.raises(TransientError, match="ConnectError"):
        await h.gateway.request("hook", "POST", content=b"{}")
    assert tried(h) == addresses[:MAX_ADDRESSES]
    await h.gateway.aclose()


async def test_a_real_refused_address_falls_through_to_a_listening_one() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    # Listening on 127.0.0.1 only: 127.0.0.2 on the same port refuses the connection.
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="local", base_url=f"http://partner.test:{port}/", allow_private_network=True
    )
    gateway = Gateway(
        [policy],
        registry=CollectorRegistry(),
        redactor=Redactor(),
        resolver=fake_resolver({"partner.test": ["127.0.0.2", "127.0.0.1"]}),
    )
    try:
        response = await gateway.request("local", "GET", "/")
        assert response.text == "ok"
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()
