"""Connection pools kept apart per TLS server name, because requests are pinned to addresses."""

from __future__ import annotations

from collections.abc import Callable

import httpx

TransportFactory = Callable[[], httpx.AsyncBaseTransport]


class PoolPerServerName(httpx.AsyncBaseTransport):
    """Sends each request through a pool of its own TLS server name (or of plain HTTP).

    The gateway rewrites every URL to the address it checked, and httpx pools connections by
    URL origin: two https hosts behind one address (a CDN, a shared load balancer) would share
    a connection, and the second host's certificate would never be verified. A pool per server
    name keeps each connection to the name its certificate was checked for. No library does
    this keying; httpx's mounts match on the URL, which here names the address.
    """

    def __init__(self, factory: TransportFactory) -> None:
        self._factory = factory
        self._pools: dict[str | None, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request through the pool of its server name."""
        name = request.extensions.get("sni_hostname")
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = self._factory()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
