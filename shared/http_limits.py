"""The connection limits of every HTTP server, in uvicorn's protocols for both of its parsers.

Why subclass: uvicorn bounds idle keep-alive (`timeout_keep_alive`) and, per request once its
headers are in, concurrency (`limit_concurrency`: 503), but it has no deadline for reading a
request's headers (a slowloris client holds its connection forever) or its body, and with
httptools no cap on header size (1 MiB of headers is buffered and answered 200; h11 stops at
`h11_max_incomplete_event_size` with a 400). Only the protocol sees every byte before the parser
does, so one mixin there enforces the limits the same way for h11 and httptools.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.settings import HttpSettings

if TYPE_CHECKING:
    from uvicorn.server import Protocols

logger = logging.getLogger(__name__)


def _answer(status: int, phrase: str) -> bytes:
    body = phrase.encode()
    head = f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
    return f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body


HEADERS_TOO_LARGE = _answer(431, "Request Header Fields Too Large")
HEADERS_TOO_SLOW = _answer(408, "Request Timeout")
TOO_MANY_CONNECTIONS = _answer(503, "Service Unavailable")


def _cancel(timer: asyncio.TimerHandle | None) -> asyncio.TimerHandle | None:
    """Cancel the timer, if any; None, to store in its place."""
    if timer is not None:
        timer.cancel()
    return None


class _Request(Protocol):
    """What the limits read of uvicorn's per-request `RequestResponseCycle` (both parsers)."""

    more_body: bool
    response_complete: bool


class _Limits(asyncio.Protocol):
    """Header size, header and body deadlines, and the connection cap, in front of the parser."""

    limits: ClassVar[HttpSettings] = HttpSettings()
    if TYPE_CHECKING:  # set by uvicorn's protocol
        transport: asyncio.Transport
        loop: asyncio.AbstractEventLoop
        connections: set[Protocols]

    _refused = False
    _head_bytes = 0  # of the request line and headers being read
    _request: _Request | None = None  # the last request whose headers were parsed
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def _cycle(self) -> _Request | None:
        """The parser's current request, a new object once its headers are parsed."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            # Refused before the protocol counts or buffers anything: memory stays bounded.
            logger.debug("connection refused: %d open", len(self.connections))
            self._refused = True
            self.transport = transport  # uvicorn's connection_lost closes it
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._headers_late
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer = _cancel(self._header_timer)
        self._body_timer = _cancel(self._body_timer)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._track()
        while data and not self._refused and not self.transport.is_closing():
            if self._in_body():
                super().data_received(data)
                self._track()
                return
            # The next request's line and headers: feed at most what is left of the limit.
            room = self.limits.max_header_bytes - self._head_bytes
            head, data = data[: max(room, 0)], data[max(room, 0) :]
            self._head_bytes += len(head)
            if head:
                super().data_received(head)
            if self._track():
                continue  # its headers are in; what is left is its body or the next request
            if data:  # the limit is used up and the headers go on
                logger.debug("headers over %d bytes", self.limits.max_header_bytes)
                self._refuse(HEADERS_TOO_LARGE)
                return
            # Armed only for headers that did not come whole in one read: most requests do, and
            # then no timer is made (or cancelled) for them at all.
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(
                    self.limits.header_timeout_seconds, self._headers_late
                )

    def _in_body(self) -> bool:
        request = self._cycle()
        return request is not None and request is self._request and request.more_body

    def _track(self) -> bool:
        """Whether the parser has read a new request's headers; (re)arm the deadlines if so."""
        request = self._cycle()
        new = request is not None and request is not self._request
        if new:
            self._request = request
            self._head_bytes = 0
            self._header_timer = _cancel(self._header_timer)
            self._body_timer = _cancel(self._body_timer)
            if self._in_body():
                self._body_timer = self.loop.call_later(
                    self.limits.body_timeout_seconds, self._body_late
                )
        elif not self._in_body():
            self._body_timer = _cancel(self._body_timer)
        return new

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._track() or self.transport.is_closing():
            return
        request = self._cycle()
        if request is not None and not request.response_complete:
            # Still answering the previous request: h11 reads no further until then.
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._headers_late
            )
            return
        logger.debug("headers not complete within %s s", self.limits.header_timeout_seconds)
        self._refuse(HEADERS_TOO_SLOW)

    def _body_late(self) -> None:
        self._body_timer = None
        if self._in_body() and not self.transport.is_closing():
            logger.debug("request body not read within %s s", self.limits.body_timeout_seconds)
            self.transport.close()  # the app's next receive() says http.disconnect

    def _refuse(self, answer: bytes) -> None:
        request = self._cycle()
        if request is None or request.response_complete:  # no response of ours is under way
            self.transport.write(answer)
        self.transport.close()


class LimitedH11Protocol(_Limits, H11Protocol):
    """uvicorn's h11 protocol within the limits."""

    def _cycle(self) -> _Request | None:
        return self.cycle


_AUTO: type[_Limits]
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # without httptools, uvicorn's "auto" is h11
    _AUTO = LimitedH11Protocol
else:

    class LimitedHttpToolsProtocol(_Limits, HttpToolsProtocol):
        """uvicorn's httptools protocol within the limits."""

        def _cycle(self) -> _Request | None:
            return self.cycle

    _AUTO = LimitedHttpToolsProtocol


def limited_protocol(
    limits: HttpSettings, parser: Literal["auto", "h11"]
) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http=`: the parser's (auto: httptools where installed)."""
    base = _AUTO if parser == "auto" else LimitedH11Protocol
    return type(base.__name__, (base,), {"limits": limits})
