"""Partners' JSON answers are parsed only when their nesting is bounded: never a RecursionError.

httpx's `response.json()` is the standard library's parser, which recurses once per level:
100,000 levels end in RecursionError, which no retry-or-park decision knows what to do with.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.email.providers import HttpProvider
from services.email.rendering import RenderedEmail
from shared.config import MIB, EmailConfig
from shared.errors import PermanentError
from shared.gateway import EndpointPolicy, Gateway, UnreadableJsonError, json_body
from shared.gateway.testing import harness

PARTNER = EndpointPolicy(
    name="partner", base_url="https://api.example.com/", max_response_bytes=MIB
)
MAIL = EmailConfig(provider="http", http_integration="partner", from_address="shop@example.com")
EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"


def nested_arrays(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def nested_objects(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


async def answer(response: httpx.Response) -> httpx.Response:
    """What the gateway returns when the partner answers with `response`."""
    gateway = gateway_answering(response)
    try:
        return await gateway.request("partner", "GET", "/")
    finally:
        await gateway.aclose()


def gateway_answering(response: httpx.Response) -> Gateway:
    async def handle(_: httpx.Request) -> httpx.Response:
        return response

    return harness(handle, PARTNER).gateway


async def test_json_body_parses_an_ordinary_answer() -> None:
    response = await answer(httpx.Response(200, json={"id": "ref-1", "items": [[1], [2]]}))
    assert json_body(response) == {"id": "ref-1", "items": [[1], [2]]}


async def test_json_nested_64_levels_is_still_read() -> None:
    response = await answer(httpx.Response(200, content=nested_arrays(64)))
    value: Any = json_body(response)
    for _ in range(63):
        [value] = value
    assert value == []


@pytest.mark.parametrize("levels", [100, 100_000])
@pytest.mark.parametrize("nested", [nested_arrays, nested_objects])
async def test_deeply_nested_json_answer_is_a_clear_permanent_error(
    levels: int, nested: Callable[[int], bytes]
) -> None:
    response = await answer(httpx.Response(200, content=nested(levels)))
    with pytest.raises(UnreadableJsonError) as caught:
        json_body(response)
    assert isinstance(caught.value, PermanentError)
    assert str(caught.value) == "the answer's JSON nests deeper than 64 levels"


async def test_deep_json_inside_a_gzip_answer_is_refused_the_same() -> None:
    body = gzip.compress(nested_arrays(100_000))
    headers = {"Content-Encoding": "gzip"}
    response = await answer(httpx.Response(200, stream=httpx.ByteStream(body), headers=headers))
    with pytest.raises(UnreadableJsonError, match="nests deeper than 64 levels"):
        json_body(response)


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'{"id": ', b"\xff\xfe"])
async def test_an_answer_that_is_not_json_is_a_clear_permanent_error(body: bytes) -> None:
    response = await answer(httpx.Response(200, content=body))
    with pytest.raises(UnreadableJsonError, match=r"^the answer is not JSON") as caught:
        json_body(response)
    assert isinstance(caught.value, PermanentError)


@pytest.fixture
async def mail_partner() -> AsyncIterator[list[Gateway]]:
    made: list[Gateway] = []
    yield made
    for gateway in made:
        await gateway.aclose()


@pytest.mark.parametrize("body", [nested_arrays(100_000), nested_objects(100), b"not json"])
async def test_the_mail_provider_takes_an_unreadable_answer_as_no_message_id(
    mail_partner: list[Gateway], body: bytes
) -> None:
    # The mail was accepted (2xx): an answer it cannot read only means no provider id.
    gateway = gateway_answering(httpx.Response(202, content=body))
    mail_partner.append(gateway)
    email = RenderedEmail("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>", "normal")
    assert await HttpProvider(MAIL, gateway).send(email, EVENT_ID) is None
