"""The checks: the broker, every queue of the topology, every integration's health URL, and
whether cached queries answer from stale data."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from aio_pika.abc import AbstractConnection

from contracts.envelope import utc_now
from services.health.metrics import HealthMetrics
from services.health.reads import ReadWatcher
from services.health.report import Finding
from shared import parking
from shared.config import IntegrationConfig
from shared.gateway import EndpointPolicy, Gateway, policy_for_integration
from shared.settings import HealthSettings
from shared.topology import EVENTS_EXCHANGE, Topology, WorkQueue

Connect = Callable[[], Awaitable[AbstractConnection]]


def health_endpoint(name: str) -> str:
    """The gateway endpoint that probes an integration (its own breaker and timeout)."""
    return f"{name}-health"


def probe_policy(name: str, config: IntegrationConfig) -> EndpointPolicy:
    """The gateway policy for an integration's health URL: one try, a short timeout."""
    return dataclasses.replace(
        policy_for_integration(name, config),
        name=health_endpoint(name),
        base_url=str(config.health_url),
        timeout=config.health_timeout_seconds,
        connect_timeout=min(config.health_timeout_seconds, config.connect_timeout_seconds),
        max_retries=0,
        breaker_min_calls=1_000_000,  # a probe must always probe, never fail fast
    )


class Checker:
    """Runs every check concurrently, each within its own timeout."""

    def __init__(
        self,
        *,
        settings: HealthSettings,
        topology: Topology,
        integrations: dict[str, IntegrationConfig],
        gateway: Gateway,
        connect: Connect,
        metrics: HealthMetrics,
        reads: ReadWatcher | None = None,
    ) -> None:
        self._settings = settings
        self._reads = reads
        self._topology = topology
        self._integrations = {n: c for n, c in integrations.items() if c.health_url}
        self._gateway = gateway
        self._connect = connect
        self._metrics = metrics
        self._nonempty_since: dict[str, datetime] = {}

    async def round(self) -> list[Finding]:
        """One round: the broker and queues, and every integration, side by side."""
        started = time.perf_counter()
        reads = [self._bounded("reads", self._reads.round())] if self._reads else []
        broker, *integrations = await asyncio.gather(
            self._bounded("broker", self._broker_and_queues()),
            *(
                self._bounded(f"integration:{name}", self._integration(name))
                for name in self._integrations
            ),
            *reads,
        )
        self._metrics.round_seconds.observe(time.perf_counter() - started)
        if len(broker) == 1 and broker[0].status == "unhealthy":
            broker += self._unseen_queues()
        return [finding for group in (broker, *integrations) for finding in group]

    def _unseen_queues(self) -> list[Finding]:
        """Every queue, when the broker check failed: not seen this round, so not healthy."""
        # Leaving them out would let the report show the last round's "healthy" for queues
        # nobody could look at.
        names = [*(q.name for q in self._topology.queues), *dict.fromkeys(self._topology.ladder)]
        return [
            Finding(f"queue:{name}", "unhealthy", "not checked: the broker check failed")
            for name in names
        ]

    async def _bounded(self, component: str, check: Awaitable[list[Finding]]) -> list[Finding]:
        """A hanging check becomes an unhealthy finding; it never holds up the round."""
        try:
            return await asyncio.wait_for(check, self._settings.check_timeout_seconds)
        except TimeoutError:
            reason = f"check timed out after {self._settings.check_timeout_seconds:g} s"
            return [Finding(component, "unhealthy", reason)]

    async def _broker_and_queues(self) -> list[Finding]:
        try:
            connection = await self._connect()
        except Exception as error:  # any failure to connect is the finding itself
            return [Finding("broker", "unhealthy", f"cannot connect: {type(error).__name__}")]
        try:
            channel = await connection.channel()
            await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
            findings = [Finding("broker", "healthy", "connected; exchange events exists")]
            counter = parking.QueueCounter(connection)
            for queue in self._topology.queues:
                findings.append(await self._queue(connection, counter, queue))
            for name in dict.fromkeys(self._topology.ladder):
                findings.append(await self._ladder_step(counter, name))
        except Exception as error:  # a broker that answers but refuses is unhealthy too
            return [Finding("broker", "unhealthy", f"{type(error).__name__}: {error}"[:300])]
        else:
            return findings
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _queue(
        self, connection: AbstractConnection, counter: parking.QueueCounter, queue: WorkQueue
    ) -> Finding:
        component = f"queue:{queue.name}"
        found = await counter.count(queue.name)
        if found is None:
            return Finding(component, "unhealthy", "missing; run `eventyard topology apply`")
        depth, consumers = found
        parked = (await counter.count(queue.parked) or (0, 0))[0]
        backlog = self._backlog_age(queue.name, depth)
        parked_age = await self._parked_age(connection, queue) if parked else 0.0
        m = self._metrics
        m.depth.labels(queue.name).set(depth)
        m.consumers.labels(queue.name).set(consumers)
        m.parked.labels(queue.name).set(parked)
        m.backlog_age.labels(queue.name).set(backlog)
        m.parked_age.labels(queue.name).set(parked_age)
        details = {
            "depth": depth,
            "consumers": consumers,
            "parked": parked,
            "backlog_age_seconds": round(backlog, 1),
            "parked_oldest_age_seconds": round(parked_age, 1),
        }
        limits = self._settings
        if consumers == 0 and depth > 0:
            return Finding(component, "unhealthy", f"{depth} waiting, no consumer", details)
        problems = []
        if consumers == 0:
            problems.append("no consumer")
        if parked:
            problems.append(f"{parked} parked")
        if depth > limits.queue_depth_warning:
            problems.append(f"{depth} waiting")
        if backlog > limits.backlog_warning_seconds:
            problems.append(f"not empty for {backlog:.0f} s")
        if problems:
            return Finding(component, "degraded", "; ".join(problems), details)
        return Finding(component, "healthy", f"{depth} waiting, {consumers} consumers", details)

    async def _ladder_step(self, counter: parking.QueueCounter, name: str) -> Finding:
        """A retry queue: it must exist; its messages wait there by design, with no consumer."""
        found = await counter.count(name)
        if found is None:
            return Finding(f"queue:{name}", "unhealthy", "missing; run `eventyard topology apply`")
        return Finding(
            f"queue:{name}", "healthy", f"{found[0]} waiting to retry", {"depth": found[0]}
        )

    def _backlog_age(self, queue: str, depth: int) -> float:
        if depth == 0:
            self._nonempty_since.pop(queue, None)
            return 0.0
        since = self._nonempty_since.setdefault(queue, utc_now())
        return (utc_now() - since).total_seconds()

    async def _parked_age(self, connection: AbstractConnection, queue: WorkQueue) -> float:
        # Peeking is safe here: parked queues have no delivery limit to count against.
        heads = await parking.peek(connection, queue.parked, 1)
        stamp = (heads[0].last_failure or heads[0].first_failure) if heads else None
        if not stamp:
            return 0.0
        try:
            return max(0.0, (utc_now() - datetime.fromisoformat(stamp)).total_seconds())
        except ValueError:
            return 0.0

    async def _integration(self, name: str) -> list[Finding]:
        component = f"integration:{name}"
        started = time.perf_counter()
        try:
            response = await self._gateway.request(health_endpoint(name), "GET")
        except Exception as error:  # every failure of the probe is what the report shows
            return [Finding(component, "unhealthy", f"{type(error).__name__}: {error}"[:300])]
        took = time.perf_counter() - started
        return [
            Finding(
                component,
                "healthy",
                f"HTTP {response.status_code} in {took * 1000:.0f} ms",
                {"latency_ms": round(took * 1000, 1)},
            )
        ]
