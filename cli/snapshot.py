"""What `eventyard status` shows: the broker's queues, the services' counters, live health."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aio_pika.abc import AbstractConnection
from prometheus_client.parser import text_string_to_metric_families

from cli.local import local_gateway
from shared.config import IntegrationsFile
from shared.errors import EventyardError
from shared.parking import QueueCounter
from shared.topology import Topology


@dataclass(frozen=True)
class QueueRow:
    """One work queue."""

    name: str
    depth: int | None
    consumers: int | None
    parked: int | None
    handled_total: float | None
    backlog_age: float | None
    parked_age: float | None


@dataclass(frozen=True)
class IntegrationRow:
    """One connection of the integrations file."""

    name: str
    kind: str
    criticality: str
    health: str
    breaker: str


@dataclass(frozen=True)
class Snapshot:
    """Everything at one moment."""

    taken_at: float
    queues: list[QueueRow]
    integrations: list[IntegrationRow]
    services: dict[str, bool] = field(default_factory=dict)


BREAKER_NAMES = {0.0: "closed", 1.0: "half-open", 2.0: "open"}


class Collector:
    """Takes snapshots from the broker and the services' HTTP sides (through the gateway)."""

    def __init__(
        self,
        connection: AbstractConnection,
        topology: Topology,
        integrations: IntegrationsFile,
        *,
        host: str,
        base_port: int,
    ) -> None:
        self._connection = connection
        self._topology = topology
        self._integrations = integrations
        # Imported here, as in cli.common.load(): every service comes with it.
        from services.yard import service_urls  # noqa: PLC0415

        urls = service_urls(host, base_port)
        self._services = tuple(urls)
        self._gateway = local_gateway(urls, timeout=2)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._gateway.aclose()

    async def take(self) -> Snapshot:
        """One snapshot; a service that does not answer just leaves its columns empty."""
        metrics_texts, health = await asyncio.gather(
            asyncio.gather(*(self._get(name, "/metrics") for name in self._services)),
            self._get("health", "/health"),
        )
        samples = _samples([t for t in metrics_texts if t is not None])
        components: dict[str, Any] = _json(health).get("components", {})
        counter = QueueCounter(self._connection)
        try:
            queues = [
                await self._queue(counter, q.name, q.parked, samples, components)
                for q in self._topology.queues
            ]
        finally:
            await counter.close()
        return Snapshot(
            taken_at=time.monotonic(),
            queues=queues,
            integrations=self._integration_rows(samples, components),
            services={
                name: text is not None
                for name, text in zip(self._services, metrics_texts, strict=True)
            },
        )

    async def _queue(
        self,
        counter: QueueCounter,
        name: str,
        parked_name: str,
        samples: dict[str, list[tuple[dict[str, str], float]]],
        components: dict[str, Any],
    ) -> QueueRow:
        found = await counter.count(name)
        parked = await counter.count(parked_name)
        handled = [
            v
            for labels, v in samples.get("eventyard_messages_consumed_total", [])
            if labels.get("queue") == name
        ]
        health = components.get(f"queue:{name}", {})
        return QueueRow(
            name=name,
            depth=found[0] if found else None,
            consumers=found[1] if found else None,
            parked=parked[0] if parked else None,
            handled_total=sum(handled) if handled else None,
            backlog_age=health.get("backlog_age_seconds"),
            parked_age=health.get("parked_oldest_age_seconds"),
        )

    def _integration_rows(
        self, samples: dict[str, list[tuple[dict[str, str], float]]], components: dict[str, Any]
    ) -> list[IntegrationRow]:
        breakers: dict[str, float] = defaultdict(float)
        for labels, value in samples.get("eventyard_breaker_state", []):
            name = labels.get("integration", "")
            breakers[name] = max(breakers[name], value)
        rows = []
        for kind, name, answers in self._integrations.catalogue():
            live = components.get(f"integration:{name}")
            rows.append(
                IntegrationRow(
                    name=name,
                    kind=kind,
                    criticality=answers.criticality or "-",
                    health=f"{live['status']}: {live['reason']}" if live else "-",
                    breaker=BREAKER_NAMES.get(breakers[name], "-") if name in breakers else "-",
                )
            )
        return rows

    async def _get(self, service: str, path: str) -> str | None:
        try:
            return (await self._gateway.request(service, "GET", path)).text
        except EventyardError:
            return None


def _samples(texts: list[str]) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found[sample.name].append((dict(sample.labels), float(sample.value)))
    return found


def _json(text: str | None) -> dict[str, Any]:
    try:
        loaded = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def rate(now: float | None, before: float | None, seconds: float) -> float | None:
    """Per-second change between two readings, if both exist."""
    if now is None or before is None or seconds <= 0:
        return None
    return max(0.0, (now - before) / seconds)
