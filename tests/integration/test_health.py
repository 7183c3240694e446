"""health against the real broker and a local stand-in: flips, reasons, one event per change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

from services.email.app import DEFINITION as EMAIL
from services.health.app import DEFINITION as HEALTH
from services.yard import build_topology
from shared.config import IntegrationsFile, load_integrations
from shared.parking import depth
from shared.settings import HealthSettings, Settings
from shared.topology import Topology
from tests.support.cli import eventyard
from tests.support.events import connected, drain, emitter_for, sample_order
from tests.support.proxy import FaultProxy
from tests.support.receiver import Receiver, serving
from tests.support.services import running
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

INTERVAL = 0.3


async def test_a_stopped_stand_in_flips_unhealthy_and_back_with_one_event_each(
    settings: Settings,
) -> None:
    fast = settings.model_copy(
        update={"health": HealthSettings(interval_seconds=INTERVAL, check_timeout_seconds=1)}
    )
    crm = Receiver()
    async with serving(crm):
        port = int(urlsplit(crm.url).port or 0)
        integrations = IntegrationsFile.model_validate(
            {
                "integrations": {
                    "crm": {
                        "base_url": crm.base,
                        "health_url": f"{crm.base}/health",
                        "allow_private_network": True,
                        "criticality": "low",
                    }
                }
            }
        )
    topology = build_topology(fast, integrations)
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        # The capture queue is bound before health starts, so its first event is seen too.
        channel = await connection.channel()
        exchange = await channel.declare_exchange("events", "topic", durable=True)
        capture = await channel.declare_queue("test.health", durable=True)
        await capture.bind(exchange, "integration.health.changed.v1")
        async with (
            running(HEALTH, fast, topology, integrations) as base,
            httpx.AsyncClient() as client,
        ):

            async def status() -> tuple[str, str]:
                report = (await client.get(f"{base}/health")).json()
                crm_state = report["components"].get("integration:crm", {})
                return crm_state.get("status", ""), crm_state.get("reason", "")

            # Given the stand-in is down from the start
            await eventually(lambda: _is(status, "unhealthy"), timeout=2 * INTERVAL + 3)
            down_reason = (await status())[1]

            # When it comes up, it flips to healthy
            async with serving(crm, port):
                await eventually(lambda: _is(status, "healthy"), timeout=2 * INTERVAL + 3)
                up_reason = (await status())[1]
            # And when it stops again, unhealthy within two intervals
            await eventually(lambda: _is(status, "unhealthy"), timeout=2 * INTERVAL + 3)
            await asyncio.sleep(3 * INTERVAL)  # several more rounds: no more events
            report = (await client.get(f"{base}/health")).json()
        events = [orjson.loads(m.body)["data"] for m in await drain(connection, "test.health")]

    assert "ConnectError" in down_reason or "connect" in down_reason.lower()
    assert up_reason.startswith("HTTP 200")
    assert [(e["previous"], e["current"]) for e in events] == [
        (None, "unhealthy"),
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
    ]
    assert all(e["integration"] == "crm" and e["criticality"] == "low" for e in events)
    assert report["components"]["broker"]["status"] == "healthy"
    assert report["components"]["queue:email.send"]["status"] in ("healthy", "degraded")


async def test_queue_findings_report_depth_consumers_and_parked(settings: Settings) -> None:
    fast = settings.model_copy(update={"health": HealthSettings(interval_seconds=INTERVAL)})
    topology = build_topology(fast, IntegrationsFile())
    url = settings.broker_url.get_secret_value()
    async with running(HEALTH, fast, topology) as base, connected(url) as connection:
        publisher = await emitter_for(connection)
        for n in range(3):
            await publisher.publish(sample_order(f"ord_{n}"))
        async with httpx.AsyncClient() as client:

            async def crm_queue() -> dict[str, object]:
                report = (await client.get(f"{base}/health")).json()
                found: dict[str, object] = report["components"].get("queue:order-followup.crm", {})
                return found

            await eventually(lambda: _depth(crm_queue, 3), timeout=5)
            finding = await crm_queue()
            components = (await client.get(f"{base}/health")).json()["components"]
            metrics = (await client.get(f"{base}/metrics")).text
    ladder = [components[f"queue:{name}"] for name in dict.fromkeys(topology.ladder)]
    assert [step["status"] for step in ladder] == ["healthy"] * len(ladder)
    assert {step["reason"] for step in ladder} == {"0 waiting to retry"}
    assert finding["status"] == "unhealthy"
    assert finding["reason"] == "3 waiting, no consumer"
    assert finding["consumers"] == 0
    assert 'eventyard_queue_depth{queue="order-followup.crm"} 3.0' in metrics
    assert 'eventyard_component_health{component="queue:order-followup.crm"} 2.0' in metrics


async def test_readyz_follows_the_broker_connection_of_a_consumer(settings: Settings) -> None:
    direct = settings.broker_url.get_secret_value()
    proxy = await FaultProxy("127.0.0.1", 5672).start()
    proxied = settings.model_copy(
        update={
            "broker_url": SecretStr(direct.replace(":5672/", f":{proxy.port}/")),
            "heartbeat_seconds": 2,
        }
    )
    topology = build_topology(proxied, IntegrationsFile())
    email_only = Topology(
        tuple(q for q in topology.queues if q.name == "email.send"),
        topology.delays,
        topology.delivery_limit,
    )
    try:
        async with running(EMAIL, proxied, email_only) as base, httpx.AsyncClient() as client:
            proxy.refuse()
            await eventually(lambda: _ready_is(client, base, 503), timeout=15)
            answer = (await client.get(f"{base}/readyz")).json()
            proxy.refuse(False)
            await eventually(lambda: _ready_is(client, base, 200), timeout=30)
            async with connected(direct) as connection:
                found = await depth(connection, "email.send")
    finally:
        await proxy.stop()
    assert answer["problems"]
    assert found is not None
    assert found[1] == 1  # its consumer is attached again


async def _is(status: Callable[[], Awaitable[tuple[str, str]]], expected: str) -> bool:
    return (await status())[0] == expected


async def _depth(finding: Callable[[], Awaitable[dict[str, object]]], n: int) -> bool:
    return (await finding()).get("depth") == n


async def _ready_is(client: httpx.AsyncClient, base: str, code: int) -> bool:
    try:
        return (await client.get(f"{base}/readyz")).status_code == code
    except httpx.TransportError:
        return False


async def test_integrations_command_prints_the_catalogue_with_live_health(
    settings: Settings, tmp_path: object
) -> None:
    crm = Receiver()
    async with serving(crm):
        config = {
            "integrations": {
                "crm": {
                    "base_url": crm.base,
                    "health_url": f"{crm.base}/health",
                    "allow_private_network": True,
                    "capability": "customer records",
                    "dependency": "CRM REST API",
                    "on_failure": "CRM sync waits on the ladder",
                    "criticality": "low",
                },
                "warehouse": {"base_url": "https://warehouse.example.com"},
                # No health_url: probed at the payment adapter's own authenticated read.
                "pay": {
                    "base_url": crm.base,
                    "payments": "stripe",
                    "allow_private_network": True,
                    "capability": "refunds of cancelled orders",
                    "dependency": "the payment provider's API",
                    "on_failure": "refunds wait on the ladder",
                    "criticality": "high",
                },
            }
        }
        write_integrations(settings.config, config)
        integrations = load_integrations(settings.config)
        fast = settings.model_copy(update={"health": HealthSettings(interval_seconds=INTERVAL)})
        async with running(HEALTH, fast, build_topology(fast, integrations), integrations) as base:
            await asyncio.sleep(3 * INTERVAL)
            shown = await asyncio.to_thread(
                eventyard, settings, "integrations", "--health-url", base
            )
    assert shown.returncode == 0, shown.stderr
    [crm_row] = [line for line in shown.stdout.splitlines() if line.startswith("crm")]
    for fact in ("integration", "low", "customer records", "CRM REST API", "healthy (HTTP 200"):
        assert fact in crm_row
    [pay_row] = [line for line in shown.stdout.splitlines() if line.startswith("pay ")]
    for fact in ("payments (stripe)", "high", "refunds of cancelled orders", "healthy (HTTP 200"):
        assert fact in pay_row
    assert "/v1/balance" in {hit.path for hit in crm.hits}
    assert "not probed (no health_url)" in shown.stdout


async def test_a_connection_without_its_answers_stops_the_service_at_start(
    settings: Settings,
) -> None:
    settings.config.write_text('[integrations.crm]\nbase_url = "https://crm.example.com"\n')
    started = await asyncio.to_thread(eventyard, settings, "run", "health")
    assert started.returncode == 2
    assert "integrations.crm: capability, dependency, on_failure, criticality" in started.stderr
