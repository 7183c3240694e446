"""The connection pool under the gateway's httpx client: aiohttp, through `httpx-aiohttp`.

Measured on this machine (bench/README.md, "HTTP clients"): httpx's own pool costs more per
request the more connections it holds (its pool scans every connection on every request), so
a destination with concurrency 64 paid ~9 ms of CPU per POST; aiohttp's pool stays flat at
~0.1 ms. httpx stays the gateway's interface (requests, responses, timeouts, errors); only the
transport under it changes.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# Big enough that a destination that hangs with all its concurrency in use never starves the
# others sharing the pool (each endpoint has its own semaphore).
MAX_CONNECTIONS = 1000
KEEPALIVE_SECONDS = 5.0


class AiohttpPool(AiohttpTransport):
    """One aiohttp session for every call, with the gateway's rules and honest error classes.

    - Connections are keyed by TLS server name as well as address (aiohttp's connection key
      includes `server_hostname`), so two https hosts behind one pinned address never share a
      connection and each certificate is verified for its own name.
    - No cookie jar, no proxies from the environment, no redirects, no decompression: the
      gateway pins addresses, sends only declared headers and decodes bodies step by step.
    - httpx-aiohttp maps a dropped connection and a certificate error alike to `ConnectTimeout`;
      a connect error tells the gateway that nothing was sent (it may then try the host's next
      address with the same POST), so the errors are classified here from aiohttp's own.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        context = tls if tls is not None else httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=context, trust_env=False, client=lambda: _session(context))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp; errors as httpx's transport errors."""
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as error:
            cause = error.__cause__
            if not isinstance(cause, aiohttp.ClientError):
                raise
            raise _as_httpx(cause, request) from cause
        except aiohttp.ClientError as error:
            # Errors the library does not map (a malformed response head, too long a header).
            raise _as_httpx(error, request) from error


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


def _session(tls: ssl.SSLContext) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        ssl=tls, limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    )
