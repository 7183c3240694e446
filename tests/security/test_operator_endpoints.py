"""/metrics, /healthz and /readyz answer only clients in the operator networks.

The intake's port faces the internet; its metrics name every queue, integration and source.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from shared.http import ServiceApp
from shared.settings import HttpSettings

PATHS = ["/metrics", "/healthz", "/readyz"]


async def get(client_host: str, path: str, limits: HttpSettings | None = None) -> httpx.Response:
    app = ServiceApp(CollectorRegistry(), list, limits).app
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get(path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("client", ["203.0.113.7", "2001:db8::7", "8.8.8.8"])
async def test_a_client_on_the_internet_is_refused(client: str, path: str) -> None:
    answer = await get(client, path)
    assert answer.status_code == 403
    assert "EVENTYARD_HTTP__OPERATOR_NETWORKS" in answer.json()["error"]
    assert "eventyard_" not in answer.text


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "client", ["127.0.0.1", "::1", "10.1.2.3", "172.18.0.5", "::ffff:10.1.2.3"]
)
async def test_loopback_and_private_clients_are_answered(client: str, path: str) -> None:
    assert (await get(client, path)).status_code == 200


async def test_the_operator_networks_are_a_setting() -> None:
    limits = HttpSettings.model_validate({"operator_networks": ["203.0.113.0/24"]})
    assert (await get("203.0.113.7", "/metrics", limits)).status_code == 200
    assert (await get("10.1.2.3", "/metrics", limits)).status_code == 403
