"""The connection pool under the gateway's httpx interface: one aiohttp session, called directly.

Measured on this machine (bench/README.md, "HTTP clients"): httpx's own pool costs more per
request the more connections it holds (its pool scans every connection on every request), so
a destination with concurrency 64 paid ~9 ms of CPU per POST; aiohttp's pool stays flat at
~0.1 ms. httpx stays the gateway's interface (requests, responses, timeouts, errors); only the
transport under it changes. This transport is written here rather than taken from
`httpx-aiohttp` because that adapter's generic conversions (a URL re-parsed from text, headers
copied twice, a timeout object and three wrapper layers per body chunk) cost more CPU per call
than the gateway's whole policy (measured: 300 vs 230 µs per POST at concurrency 64), and it
names a dropped connection and a certificate error alike `ConnectTimeout`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx
import yarl

# Big enough that a destination that hangs with all its concurrency in use never starves the
# others sharing the pool (each endpoint has its own semaphore).
MAX_CONNECTIONS = 1000
KEEPALIVE_SECONDS = 5.0
_HTTP_11 = {"http_version": b"HTTP/1.1"}
_Phases = tuple[float | None, float | None, float | None]  # connect, read, pool


class AiohttpPool(httpx.AsyncBaseTransport):
    """One aiohttp session for every call, with the gateway's rules and honest error classes.

    - Connections are keyed by TLS server name as well as address (aiohttp's connection key
      includes `server_hostname`), so two https hosts behind one pinned address never share a
      connection and each certificate is verified for its own name.
    - No cookie jar, no proxies from the environment, no redirects, no decompression: the
      gateway pins addresses, sends only declared headers and decodes bodies step by step.
    - A connect error means nothing was sent (the gateway may then try the host's next address
      with the same POST), so only a failure to connect is called one.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls if tls is not None else httpx.create_ssl_context(trust_env=False)
        self._session: aiohttp.ClientSession | None = None
        # A handful of distinct timeouts (one per endpoint policy): built once each.
        self._timeouts: dict[_Phases, aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp; errors as httpx's transport errors."""
        session = self._session or self._open()
        content = request.content
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except aiohttp.ClientError as error:
            raise _as_httpx(error, request) from error
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions=_HTTP_11,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._tls, limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
        )
        return self._session

    def _timeout(self, phases: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (phases.get("connect"), phases.get("read"), phases.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
            if len(self._timeouts) < 256:
                self._timeouts[key] = found
        return found


class _Body(httpx.AsyncByteStream):
    """The answer's bytes as they arrive; closing it before the end closes the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as error:
            raise _as_httpx(error, self._request) from error

    async def aclose(self) -> None:
        # An unfinished body leaves the connection unusable; aiohttp closes it then.
        self._response.release()


def _as_httpx(error: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for an aiohttp one: a connect error only when no connection was made."""
    message = str(error) or type(error).__name__
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(error, TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError):  # also a certificate that does not match
        return httpx.ConnectError(message, request=request)
    if isinstance(error, aiohttp.ClientPayloadError):
        return httpx.ReadError(message, request=request)
    return httpx.RemoteProtocolError(message, request=request)
