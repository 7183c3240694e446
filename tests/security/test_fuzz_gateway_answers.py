"""Property-based fuzz of the gateway's reading of answers, through the real aiohttp pool.

Whatever bytes a destination sends back (a broken status line, odd or oversized headers, a
truncated or endless body, a wrong Content-Length, a coding it did not announce), a call ends
in a 2xx response or in one of the yard's errors (TransientError to retry, PermanentError to
park): never an aiohttp or httpx exception, which the consumer could not classify.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import fake_resolver
from shared.redact import Redactor

EXAMPLES = 150
HEADER_NAMES = ["Content-Length", "Content-Encoding", "Transfer-Encoding", "Content-Type",
                "Retry-After", "Connection", "X-Odd"]  # fmt: skip
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "5",
            "-1",
            "99999999999",
            "gzip",
            "deflate",
            "br",
            "chunked",
            "identity",
            "close",
            "",
            "text/plain",
            "1, 2",
        ]
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "v" * n),
)


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """A raw HTTP/1.1 answer, well formed or not."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))  # anything at all
    status = draw(st.sampled_from([b"200", b"201", b"204", b"301", b"404", b"410", b"429",
                                   b"500", b"503", b"999", b"20", b"abc"]))  # fmt: skip
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTX/1.1"]))
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=5))
    head = version + b" " + status + b" X\r\n"
    for name, value in headers:
        head += name.encode() + b": " + value.encode("latin-1", "replace") + b"\r\n"
    body = draw(st.binary(max_size=2000))
    return head + b"\r\n" + body


async def one_call(answer: bytes) -> None:
    """One POST to a server that sends `answer` and closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="hook",
        base_url=f"http://hooks.internal:{port}/in",
        allow_private_network=True,
        max_retries=0,
        timeout=2.0,
        max_response_bytes=4096,
    )
    gateway = Gateway(
        [policy],
        registry=CollectorRegistry(),
        redactor=Redactor(),
        resolver=fake_resolver({"hooks.internal": ["127.0.0.1"]}),
    )
    try:
        response = await gateway.request("hook", "POST", content=b"{}")
        assert 200 <= response.status_code < 300
        assert len(response.content) <= policy.max_response_bytes
    except (TransientError, PermanentError):
        pass
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_any_answer_ends_in_a_2xx_or_a_yard_error() -> None:
    @given(answer=answers())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def check(answer: bytes) -> None:
        asyncio.run(one_call(answer))

    check()
