"""Property-based fuzz of the console's doors: any query, path and form body is answered with
a page and a 2xx or 4xx (503 where the broker is needed and down), never a 500 or a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from services.health.attempts import LogStore
from services.health.console import console_routes
from services.health.live import LiveRates
from services.health.report import HealthReport
from shared.config import IntegrationsFile
from shared.gateway import Gateway
from shared.redact import Redactor
from shared.settings import ConsoleSettings, Settings
from shared.topology import Topology

TOKEN = "console-token-for-tests-0123"
ALLOWED = {200, 400, 403, 404, 405, 409, 413, 503}


async def broker_down() -> object:
    raise OSError("the broker is down")


def app(log: LogStore) -> Starlette:
    yard = Settings(console=ConsoleSettings(token=TOKEN))
    routes = console_routes(
        HealthReport(),
        Topology((), (5.0,), 10),
        IntegrationsFile(),
        log=log,
        live=LiveRates(Gateway([], registry=CollectorRegistry(), redactor=Redactor()), []),
        connect=broker_down,  # type: ignore[arg-type]
        settings=yard,
    )
    return Starlette(routes=routes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    event_id=st.text(max_size=300),
    group=st.text(alphabet="0123456789abcdefxyz%./", min_size=1, max_size=20),
    action=st.sampled_from(["replay", "purge", "teleport", "REPLAY"]),
    body=st.binary(max_size=6000),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "x/y"]),
)
def test_any_request_gets_a_page_never_a_500(
    tmp_path: Path, event_id: str, group: str, action: str, body: bytes, content_type: str
) -> None:
    async def go() -> None:
        log = LogStore(f"sqlite:///{tmp_path}/log.db")
        transport = httpx.ASGITransport(app=app(log), raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
                story = await client.get("/console/messages", params={"event_id": event_id})
                path = f"/console/failures/{group}/{action}"
                asked = await client.get(path)
                headers = {"content-type": content_type}
                posted = await client.post(path, content=body, headers=headers)
        finally:
            await log.close()
        for answer in (story, asked, posted):
            assert answer.status_code in ALLOWED, (answer.status_code, answer.text[:300])
            assert "Traceback" not in answer.text
        assert posted.status_code != 200  # no body without the signed form acts

    asyncio.run(go())
