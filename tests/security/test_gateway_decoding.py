"""A partner's compressed answer is capped on its decoded size while it is decoded, not after.

Every answer here comes over a real socket from a raw asyncio server, so the bytes go through
h11 and httpcore as a partner's would; memory is measured with tracemalloc around the call.
"""

from __future__ import annotations

import asyncio
import gzip
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from functools import cache

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway, HttpPermanentError, HttpTransientError
from shared.gateway.errors import ResponseTooLargeError
from shared.redact import Redactor

MIB = 1024 * 1024
# What decoding one answer may take, whatever the answer says it expands to.
MEMORY_BOUND = 16 * MIB
ANSWER = b'{"id": "msg_1", "queued": true}'


@cache
def gzipped_zeros(mebibytes: int) -> bytes:
    """One gzip member of `mebibytes` MiB of zeros, built without compressing them all."""
    # After a full flush deflate starts afresh, so every 1 MiB block compresses to the same bytes.
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(bytes(MIB)) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zeros = bytes(MIB)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    final = b"\x03\x00"  # an empty final block
    trailer = struct.pack("<II", crc, (mebibytes * MIB) & 0xFFFFFFFF)
    return header + block * mebibytes + final + trailer


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib wrapper, as some servers send `deflate`."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


@asynccontextmanager
async def partner(
    body: bytes, encodings: Sequence[str] = (), *, status: int = 200, limit: int = MIB
) -> AsyncIterator[Gateway]:
    """A gateway whose endpoint `partner` is a TCP server giving this answer to every request."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 {status} Answer\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"Content-Encoding: {value}\r\n" for value in encodings)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head.encode("latin-1") + b"\r\n" + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway hung up: that is its right
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="partner",
        base_url=f"http://127.0.0.1:{port}/",
        allow_private_network=True,
        max_response_bytes=limit,
        max_retries=0,
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
    try:
        yield gateway
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()


async def traced(call: Awaitable[httpx.Response]) -> tuple[Exception | None, int]:
    """The error the call ended in (None for an answer), and the most memory it held at once."""
    tracemalloc.start()
    try:
        await call
    except Exception as error:
        return error, tracemalloc.get_traced_memory()[1]
    else:
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def fetch(body: bytes, *encodings: str, limit: int = MIB) -> httpx.Response:
    """The gateway's answer to a GET the partner answers with `body` in `encodings`."""
    async with partner(body, encodings, limit=limit) as gateway:
        return await gateway.request("partner", "GET", "/")


async def test_stacked_gzip_bomb_does_not_take_memory() -> None:
    bomb = gzip.compress(gzipped_zeros(513), 9)
    assert len(bomb) < 1500  # and 513 MiB once both layers are decoded
    async with partner(bomb, ["gzip, gzip"]) as gateway:
        error, peak = await traced(gateway.request("partner", "GET", "/"))
    assert peak < MEMORY_BOUND, f"the call held {peak / MIB:.0f} MiB"
    assert isinstance(error, HttpPermanentError)
    assert "answered 200 with a body in stacked Content-Encoding 'gzip, gzip'" in str(error)


async def test_stacked_codings_in_separate_headers_are_refused_too() -> None:
    bomb = gzip.compress(gzipped_zeros(64), 9)
    async with partner(bomb, ["gzip", "gzip"]) as gateway:
        error, peak = await traced(gateway.request("partner", "GET", "/"))
    assert peak < MEMORY_BOUND, f"the call held {peak / MIB:.0f} MiB"
    assert isinstance(error, HttpPermanentError)
    assert "stacked Content-Encoding 'gzip, gzip'" in str(error)


async def test_gzip_bomb_is_cut_at_the_limit_with_bounded_memory() -> None:
    bomb = gzipped_zeros(1024)  # 1 GiB of zeros in about 1 MiB
    async with partner(bomb, ["gzip"], limit=MIB) as gateway:
        error, peak = await traced(gateway.request("partner", "GET", "/"))
    assert peak < MEMORY_BOUND, f"the call held {peak / MIB:.0f} MiB"
    assert isinstance(error, ResponseTooLargeError)
    assert "over the 1048576-byte max_response_bytes" in str(error)


async def test_gzip_bomb_in_an_error_answer_is_cut_and_the_status_still_decides() -> None:
    async with partner(gzipped_zeros(1024), ["gzip"], status=503) as gateway:
        error, peak = await traced(gateway.request("partner", "GET", "/"))
    assert peak < MEMORY_BOUND, f"the call held {peak / MIB:.0f} MiB"
    assert isinstance(error, HttpTransientError)
    assert error.status_code == 503


async def test_multi_member_gzip_bomb_is_cut_at_the_limit_too() -> None:
    bomb = gzipped_zeros(1) * 256  # 256 members of 1 MiB each: small members, large sum
    async with partner(bomb, ["gzip"], limit=4 * MIB) as gateway:
        error, peak = await traced(gateway.request("partner", "GET", "/"))
    assert peak < MEMORY_BOUND, f"the call held {peak / MIB:.0f} MiB"
    assert isinstance(error, ResponseTooLargeError)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(ANSWER), "gzip"),
        (gzip.compress(ANSWER), "x-gzip"),
        (gzip.compress(ANSWER), " GZip "),
        (gzip.compress(ANSWER), "identity, gzip"),
        (zlib.compress(ANSWER), "deflate"),
        (raw_deflate(ANSWER), "deflate"),
        (ANSWER, "identity"),
        (ANSWER, ""),
    ],
    ids=[
        "gzip",
        "x-gzip",
        "mixed-case",
        "identity-then-gzip",
        "deflate",
        "raw-deflate",
        "identity",
        "empty",
    ],
)
async def test_plain_compressed_answers_still_decode(body: bytes, encoding: str) -> None:
    response = await fetch(body, encoding)
    assert response.content == ANSWER
    assert response.json() == {"id": "msg_1", "queued": True}


async def test_a_large_gzip_answer_within_the_limit_decodes_whole() -> None:
    # Many decoding steps and many socket reads: nothing may be lost between them.
    text = b"".join(b"line %d of the export\n" % n for n in range(200_000))
    response = await fetch(gzip.compress(text), "gzip", limit=8 * MIB)
    assert response.content == text


async def test_multi_member_gzip_decodes_every_member() -> None:
    # RFC 1952 §2.2: a gzip file is a series of members; httpx 0.28 keeps only the first.
    body = gzip.compress(b'{"id": ') + gzip.compress(b'"msg_1"') + gzip.compress(b"}")
    response = await fetch(body + b"\0\0\0", "gzip")  # gzip(1) also accepts zero padding
    assert response.content == b'{"id": "msg_1"}'


async def test_an_empty_body_in_gzip_is_an_empty_answer() -> None:
    response = await fetch(b"", "gzip")
    assert response.content == b""


@pytest.mark.parametrize(
    ("body", "encoding", "problem"),
    [
        (gzip.compress(ANSWER)[:-4], "gzip", "a truncated gzip body"),
        (zlib.compress(ANSWER)[:-3], "deflate", "a truncated deflate body"),
        (b"\x1f", "gzip", "a truncated gzip body"),
        (b"x", "deflate", "a truncated deflate body"),
        (gzip.compress(ANSWER)[:-8] + b"\0" * 8, "gzip", "a corrupt gzip body"),
        (b"this is not gzip at all", "gzip", "a corrupt gzip body"),
        (gzip.compress(ANSWER) + b"garbage", "gzip", "a corrupt gzip body"),
        (zlib.compress(ANSWER) + b"more", "deflate", "a deflate body with data after its end"),
    ],
    ids=[
        "gzip-truncated",
        "deflate-truncated",
        "gzip-one-byte",
        "deflate-one-byte",
        "gzip-bad-crc",
        "gzip-not-gzip",
        "gzip-trailing-garbage",
        "deflate-trailing-data",
    ],
)
async def test_truncated_or_corrupt_bodies_are_a_clear_permanent_error(
    body: bytes, encoding: str, problem: str
) -> None:
    with pytest.raises(HttpPermanentError) as caught:
        await fetch(body, encoding)
    assert f"partner: GET / answered 200 with {problem}" in str(caught.value)


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [
        ("br", "'br'"),
        ("zstd", "'zstd'"),
        ("compress", "'compress'"),
        ("x-custom", "'x-custom'"),
        ("gzip;q=1", "'gzip;q=1'"),
    ],
)
async def test_codings_the_gateway_does_not_decode_are_refused_clearly(
    encoding: str, shown: str
) -> None:
    with pytest.raises(HttpPermanentError) as caught:
        await fetch(gzip.compress(ANSWER), encoding)
    assert f"answered 200 with a body in Content-Encoding {shown}" in str(caught.value)
    assert "which the gateway does not decode" in str(caught.value)


@pytest.mark.parametrize("encoding", ["gzip, gzip", "deflate, gzip", "gzip , BR", "gzip,,deflate"])
async def test_stacked_codings_are_refused_before_any_decoding(encoding: str) -> None:
    with pytest.raises(HttpPermanentError, match="stacked Content-Encoding"):
        await fetch(gzip.compress(gzip.compress(ANSWER)), encoding)


async def test_an_error_answer_in_a_refused_coding_is_still_judged_by_its_status() -> None:
    async with partner(b"\x8b\x00\x80garbage", ["br"], status=503) as gateway:
        with pytest.raises(HttpTransientError) as caught:
            await gateway.request("partner", "GET", "/")
    assert caught.value.status_code == 503
    # The undecoded bytes are not passed off as the answer's text.
    assert str(caught.value) == "partner: GET / returned 503"


async def test_the_gateway_asks_only_for_codings_it_decodes_with_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What httpx offers by default once brotli and zstandard happen to be installed.
    monkeypatch.setattr("httpx._client.ACCEPT_ENCODING", "gzip, deflate, br, zstd")
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = EndpointPolicy(
        name="partner", base_url=f"http://127.0.0.1:{port}/", allow_private_network=True
    )
    gateway = Gateway([policy], registry=CollectorRegistry(), redactor=Redactor())
    try:
        await gateway.request("partner", "GET", "/")
    finally:
        await gateway.aclose()
        server.close()
        await server.wait_closed()
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in seen[0].lower()


def flipped(data: bytes, at: int) -> bytes:
    """`data` with the byte at `at` (if any) changed."""
    return data[:at] + bytes(b ^ 0x55 for b in data[at : at + 1]) + data[at + 1 :]


def coded(data: bytes, how: str) -> bytes:
    """`data` in one of the forms a partner might send, well-formed or not."""
    forms = {
        "plain": lambda: data,
        "gzip": lambda: gzip.compress(data),
        "zlib": lambda: zlib.compress(data),
        "raw-deflate": lambda: raw_deflate(data),
        "gzip-gzip": lambda: gzip.compress(gzip.compress(data)),
        "members": lambda: gzip.compress(data) * 3,
        "gzip-cut": lambda: gzip.compress(data)[: len(data) // 2 + 1],
        "gzip-flipped": lambda: flipped(gzip.compress(data), 12),
        "bomb": lambda: gzipped_zeros(4),
    }
    return forms[how]()


TOKENS = ["gzip", "GZIP", "x-gzip", "deflate", "Deflate", "identity", "br", "zstd", "compress", ""]
token = st.one_of(
    st.sampled_from(TOKENS),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=8),
)
encoding_value = st.builds(
    lambda tokens, comma: comma.join(tokens),
    st.lists(
        st.builds(lambda pad, t: f"{pad}{t}{pad}", st.sampled_from(["", " ", "\t"]), token),
        max_size=3,
    ),
    st.sampled_from([",", ", ", " ,\t"]),
)


async def one_call(
    body: bytes, encodings: list[str], status: int, limit: int
) -> httpx.Response | Exception:
    """The gateway's answer to the partner's, or the error it raised."""
    async with partner(body, encodings, status=status, limit=limit) as gateway:
        try:
            return await gateway.request("partner", "GET", "/")
        except Exception as error:
            return error


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=3000),
    how=st.sampled_from(
        [
            "plain",
            "gzip",
            "zlib",
            "raw-deflate",
            "gzip-gzip",
            "members",
            "gzip-cut",
            "gzip-flipped",
            "bomb",
        ]
    ),
    encodings=st.lists(encoding_value, max_size=3),
    status=st.sampled_from([200, 201, 404, 503]),
    limit=st.sampled_from([1, 100, 4096, MIB]),
)
def test_any_answer_ends_in_a_2xx_or_an_eventyard_error(
    data: bytes, how: str, encodings: list[str], status: int, limit: int
) -> None:
    outcome = asyncio.run(one_call(coded(data, how), encodings, status, limit))
    event(type(outcome).__name__)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, TransientError | PermanentError), repr(outcome)
    else:
        assert 200 <= outcome.status_code < 300
        assert len(outcome.content) <= limit
