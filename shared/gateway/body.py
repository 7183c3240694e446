"""Reading a response body without letting an endpoint decide how much memory it takes."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from shared import bounded_json
from shared.gateway.errors import (
    HttpPermanentError,
    ResponseTooLargeError,
    UndecodableResponseError,
    UnreadableJsonError,
)

# What the gateway asks for: the codings it decodes below with a bound on every step. httpx
# would also offer br and zstd whenever those libraries happen to be installed.
ACCEPT_ENCODING = "gzip, deflate"
# The most one decoding step produces: all a body can take past its limit before it is cut.
STEP = 64 * 1024
_GZIP = frozenset({"gzip", "x-gzip"})
_NO_CODING = frozenset({"", "identity"})
_SHOWN_CHARS = 60


@dataclass(frozen=True, slots=True)
class BodyProblem:
    """Why a body was not read whole: too long, or in a coding the gateway does not decode."""

    error: type[HttpPermanentError]
    detail: str

    def error_for(self, where: str, status: int) -> HttpPermanentError:
        """The error a 2xx answer of `status` with this body stands for."""
        return self.error(f"{where} answered {status} with {self.detail}", status_code=status)


class _RefusedError(Exception):
    """The body cannot be decoded within bounds; the message is the problem's detail."""


async def read_capped(response: httpx.Response, limit: int) -> BodyProblem | None:
    """Read the body, decoded, into the response; None when whole, else why it was not.

    A longer body is cut at the limit and its connection closed rather than drained. The bytes
    received and the bytes decoded both count against `limit`, while decoding: a compressed
    body cannot expand past it, not even within one chunk.
    """
    kept: list[bytes] = []
    try:
        problem = await _read(response, limit, kept)
    finally:
        await response.aclose()
    # httpx has no capped read of its own; `aread` fills this same attribute, and every
    # accessor (`content`, `text`, `json()`) reads it.
    response._content = b"".join(kept)
    return problem


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, parsed only when its nesting is bounded; UnreadableJsonError if not."""
    try:
        return bounded_json.loads(response.content)
    except bounded_json.JsonTooDeepError as error:
        message = f"the answer's JSON nests deeper than {error.limit} levels"
        raise UnreadableJsonError(message) from None
    except ValueError as error:
        raise UnreadableJsonError(f"the answer is not JSON ({error})") from None


async def _read(response: httpx.Response, limit: int, kept: list[bytes]) -> BodyProblem | None:
    """Fill `kept` with at most `limit` decoded bytes of the body."""
    over = f"a body over the {limit}-byte max_response_bytes"
    too_large = BodyProblem(ResponseTooLargeError, over)
    received = decoded = 0
    try:
        decoder, source = _source(response)
        async for raw in source:
            received += len(raw)
            if received > limit:
                return too_large
            for piece in decoder.decode(raw):
                kept.append(piece[: limit - decoded])
                decoded += len(piece)
                if decoded > limit:
                    return too_large
        decoder.finish()
    except _RefusedError as refused:
        return BodyProblem(UndecodableResponseError, str(refused))
    return None


def _source(response: httpx.Response) -> tuple[_Decoder, AsyncIterator[bytes]]:
    """The body's decoder and its bytes as they came over the wire."""
    decoder = _decoder_for(response.headers)
    if hasattr(response, "_content"):
        # Only a test double built with `content=` arrives read, decoded by httpx already (its
        # coding was still checked: a refused one is refused there too).
        return _Identity(), _once(response.content)
    stream = response.stream
    if isinstance(stream, httpx.AsyncByteStream):
        # The transport's own iterator: `aiter_raw` re-chunks and wraps each chunk three times.
        return decoder, stream.__aiter__()
    return decoder, response.aiter_raw()


def _decoder_for(headers: httpx.Headers) -> _Decoder:
    """The decoder for the answer's Content-Encoding; refuses stacked and unknown codings."""
    listed = headers.get_list("content-encoding", split_commas=True)
    values = (value.strip().lower() for value in listed)
    codings = [value for value in values if value not in _NO_CODING]
    if len(codings) > 1:
        # Each layer multiplies: gzip over gzip turns a few hundred bytes into gigabytes.
        shown = _shown(", ".join(codings))
        raise _RefusedError(f"a body in stacked Content-Encoding {shown}, which is refused")
    if not codings:
        return _Identity()
    if codings[0] in _GZIP or codings[0] == "deflate":
        return _Inflater(codings[0])
    shown = _shown(codings[0])
    raise _RefusedError(f"a body in Content-Encoding {shown}, which the gateway does not decode")


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, each piece decoded only when the caller asks for it."""
        ...

    def finish(self) -> None:
        """Refuse a body that ended before its coding did."""
        ...


class _Identity:
    """No content coding: the bytes are the body."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """`data` as it is."""
        yield data

    def finish(self) -> None:
        """Nothing can be left over."""


# The standard library's zlib rather than httpx's decoders: those decode a whole chunk at once,
# through every layer of a stacked coding, so 590 bytes of gzip over gzip become 513 MiB (and
# one 64 KiB chunk of a plain gzip bomb 64 MiB) before the limit can count a byte. Here
# `max_length` bounds every step. (httpx also drops every gzip member after the first.)
class _Inflater:
    """gzip (member after member, as RFC 1952 allows) or deflate (zlib-wrapped or raw)."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._gzip = coding in _GZIP
        self._inflate: zlib._Decompress | None = None
        self._head = b""  # deflate: the first bytes, until they tell which wrapping it is

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, at most STEP a step, each step taken when asked for."""
        pending = data
        while True:
            pending = self._open(pending)
            inflate = self._inflate
            if inflate is None or (inflate.eof and not pending):
                return
            piece = self._step(inflate, pending)
            if piece:
                yield piece
            pending = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
            # A full step may leave output inside zlib though no input is left: ask again.
            if not pending and len(piece) < STEP:
                return

    def finish(self) -> None:
        """Refuse a body cut in the middle of its compressed stream."""
        if self._head or (self._inflate is not None and not self._inflate.eof):
            raise _RefusedError(f"a truncated {self._coding} body")

    def _open(self, data: bytes) -> bytes:
        """The bytes to inflate next, starting the stream (or the next gzip member) when due."""
        current = self._inflate
        if current is not None and not current.eof:
            return data
        if current is not None:
            if not self._gzip and data:
                raise _RefusedError("a deflate body with data after its end")
            data = data.lstrip(b"\0")  # zero padding after a member, which gzip(1) accepts
            wbits = 16 + zlib.MAX_WBITS
        elif self._gzip:
            wbits = 16 + zlib.MAX_WBITS
        else:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            wbits = _deflate_wbits(data)
        if data:
            self._inflate = zlib.decompressobj(wbits)
        return data

    def _step(self, inflate: zlib._Decompress, data: bytes) -> bytes:
        """At most STEP decoded bytes; the input left over stays in `inflate`."""
        try:
            return inflate.decompress(data, STEP)
        except zlib.error as error:
            raise _RefusedError(f"a corrupt {self._coding} body ({error})") from None


def _deflate_wbits(head: bytes) -> int:
    """zlib-wrapped deflate (RFC 9110's meaning), or the raw deflate some servers send instead."""
    cmf, flg = head[0], head[1]
    wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0
    return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS


def _shown(text: str) -> str:
    """A header value as an error message quotes it: short, and unambiguous."""
    return repr(text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}…")


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body
