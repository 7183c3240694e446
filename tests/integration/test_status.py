"""`eventyard status --once` against a topology with known depths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aio_pika
import orjson

from shared.settings import Settings
from tests.support.cli import eventyard
from tests.support.events import connected, emitter_for, sample_order
from tests.support.services import free_port
from tests.support.toml import write_integrations


def row(output: str, name: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row for {name} in:\n{output}")


async def test_once_prints_depths_consumers_and_parked(settings: Settings) -> None:
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    async with connected(settings.broker_url.get_secret_value()) as connection:
        publisher = await emitter_for(connection)
        for n in range(3):
            await publisher.publish(sample_order(f"ord_{n}"))
        channel = await connection.channel(publisher_confirms=True)
        for n in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=f"p{n}"), routing_key="email.send.parked"
            )
    nobody = free_port()  # no service answers there: their columns stay empty
    shown = await asyncio.to_thread(
        eventyard, settings, "status", "--once", "--base-port", str(nobody)
    )
    assert shown.returncode == 0, shown.stderr
    for step in ("order-followup.crm", "order-followup.confirmation", "order-followup.warehouse"):
        assert row(shown.stdout, step)[1:3] == ["3", "0"]
    email = row(shown.stdout, "email.send")
    assert email[1:3] == ["0", "0"]
    assert email[5] == "2"
    assert row(shown.stdout, "intake")[5] == "0"
    assert "not answering: intake, publisher, email, order-followup, health" in shown.stdout


class FakeServices:
    """publisher and health stand-ins on `base_port + 1` and `+ 4`: what status reads from them.

    publisher's consumed counter grows 100 per second, so the snapshot has an out-rate to show.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.servers: list[asyncio.Server] = []

    def publisher_metrics(self) -> bytes:
        handled = 100 * (time.monotonic() - self.started)
        return (
            "# TYPE eventyard_messages_consumed_total counter\n"
            f'eventyard_messages_consumed_total{{queue="email.send",outcome="acked"}} {handled}\n'
            "# TYPE eventyard_breaker_state gauge\n"
            'eventyard_breaker_state{integration="crm"} 2\n'
        ).encode()

    def health(self) -> bytes:
        return orjson.dumps(
            {
                "status": "unhealthy",
                "components": {
                    "integration:crm": {"status": "unhealthy", "reason": "HTTP 503"},
                    "queue:email.send": {"backlog_age_seconds": 42.0},
                },
            }
        )

    async def start(self) -> int:
        """Listen on two ports of a free block; its base port."""
        routes = {1: {b"/metrics": self.publisher_metrics}, 4: {b"/health": self.health}}
        for _ in range(20):
            base = free_port()
            try:
                for offset, paths in routes.items():
                    self.servers.append(
                        await asyncio.start_server(_answering(paths), "127.0.0.1", base + offset)
                    )
            except OSError:
                await self.stop()
                continue
            return base
        raise RuntimeError("no free block of ports")

    async def stop(self) -> None:
        """Close every listener."""
        for server in self.servers:
            server.close()
            await server.wait_closed()
        self.servers = []


def _answering(paths: dict[bytes, Callable[[], bytes]]) -> Callable[..., Awaitable[None]]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        make = paths.get(path)
        body = make() if make else b"not here"
        status = b"200 OK" if make else b"404 Not Found"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        await writer.drain()
        writer.close()

    return answer


async def test_once_shows_rates_ages_integration_health_and_breaker(
    settings: Settings,
) -> None:
    write_integrations(
        settings.config,
        {"integrations": {"crm": {"base_url": "http://127.0.0.1:9/", "criticality": "high"}}},
    )
    applied = await asyncio.to_thread(eventyard, settings, "topology", "apply")
    assert applied.returncode == 0, applied.stderr
    services = FakeServices()
    base = await services.start()
    try:
        shown = await asyncio.to_thread(
            eventyard, settings, "status", "--once", "--base-port", str(base)
        )
    finally:
        await services.stop()
    assert shown.returncode == 0, shown.stderr
    email = row(shown.stdout, "email.send")
    out_rate = float(email[4])
    assert 60 <= out_rate <= 140, shown.stdout  # 100/s, read over a ~1 s gap by another clock
    assert email[6] == ">=42s waiting"
    crm = row(shown.stdout, "crm")
    assert crm[1:] == ["integration", "high", "unhealthy: HTTP 503", "open"]
    # health's stand-in serves no /metrics, so it counts as not answering too.
    assert shown.stdout.rstrip().endswith("not answering: intake, email, order-followup, health")
