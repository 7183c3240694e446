"""Service bootstrap: settings, logs, broker, topology, consumers, HTTP, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from starlette.routing import BaseRoute

from contracts.base import Contract
from shared.attempts.reporter import AttemptReporter
from shared.broker import connect_robust, publish_channel, redacted_url
from shared.config import IntegrationsFile
from shared.consumer import ConsumerContext, Step, StepConsumer
from shared.gateway import Gateway, policy_for_destination, policy_for_integration
from shared.http import HttpServer, ServiceApp, http_server, shared_port_socket
from shared.logs import use_redactor
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter
from shared.redact import Redactor
from shared.settings import Settings
from shared.topology import Topology, WorkQueue, declare
from shared.tracing import Tracing, start_tracing
from shared.version import eventyard_version

log = logging.getLogger(__name__)
REPORTER_GRACE_SECONDS = 2.0  # at shutdown, for the last attempts to reach the log


@dataclass
class Runtime:
    """What a service's wiring gets once the broker is connected."""

    name: str
    settings: Settings
    integrations: IntegrationsFile
    topology: Topology
    connection: AbstractRobustConnection
    emitter: Emitter
    metrics: Metrics
    redactor: Redactor
    gateway: Gateway
    reporter: AttemptReporter | None = None  # None when attempts are not reported


@dataclass
class Wiring:
    """What a service runs: consumer steps, HTTP routes, and what to close at the end."""

    steps: Sequence[Step] = ()
    routes: Sequence[BaseRoute] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()


@dataclass(frozen=True)
class ServiceDefinition:
    """A service: its name, default port, the queues it owns and how to wire it."""

    name: str
    default_port: int
    queues: Callable[[IntegrationsFile], Sequence[WorkQueue]]
    wire: Callable[[Runtime], Awaitable[Wiring]]
    summary: str = ""
    emits: tuple[type[Contract], ...] = ()


@dataclass
class ServiceState:
    """Live state the readiness probe reads."""

    connection: AbstractRobustConnection | None = None
    channel: AbstractChannel | None = None
    consumers: list[StepConsumer] = field(default_factory=list)
    wired: bool = False

    def problems(self) -> list[str]:
        """Why the service is not ready; empty when it is."""
        if self.connection is None or self.connection.is_closed:
            return ["not connected to the broker"]
        if self.channel is None or self.channel.is_closed:
            return ["the publish channel is closed"]
        if not self.wired:
            return ["starting"]
        return [f"not consuming {c.step.queue.name}" for c in self.consumers if not c.consuming]


async def run_service(
    definition: ServiceDefinition,
    settings: Settings,
    integrations: IntegrationsFile,
    topology: Topology,
    *,
    port: int,
    stop: asyncio.Event | None = None,
    shared_port: bool = False,
    tracing: Tracing | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully.

    `shared_port`: listen with SO_REUSEPORT, as one of several workers on the same port.
    `tracing`: spans made elsewhere (a test's in-memory exporter); else as the settings say.
    """
    stop = stop or _stop_on_signals()
    if tracing is None:
        tracing = start_tracing(settings.tracing, definition.name)
    metrics = Metrics(definition.name)
    state = ServiceState()
    redactor = build_redactor(settings, integrations)
    use_redactor(redactor)  # log lines hide the configured secrets too, not only the patterns

    def problems() -> list[str]:
        found = state.problems()
        metrics.up.labels(definition.name).set(0 if found else 1)
        return found

    gateway = build_gateway(integrations, metrics, redactor, settings.replicas, tracing)
    http = ServiceApp(metrics.registry, problems, settings.http, tracing)
    server, http_task = _serve(http, settings, port, shared_port=shared_port)
    wiring = Wiring()
    reporter: AttemptReporter | None = None
    try:
        state.connection = await _connect(settings, definition.name, stop)
        if state.connection is None:
            return
        state.channel = await publish_channel(state.connection)
        async with state.connection.channel() as setup:
            await declare(setup, topology)
        confirmer = Confirmer(state.channel, timeout=settings.publish_timeout_seconds)
        emitter = Emitter(
            confirmer, source=f"eventyard/{definition.name}", metrics=metrics, tracing=tracing
        )
        reporter = _reporter(definition.name, settings, confirmer, metrics)
        runtime = Runtime(
            definition.name,
            settings,
            integrations,
            topology,
            state.connection,
            emitter,
            metrics,
            redactor,
            gateway,
            reporter,
        )
        wiring = await definition.wire(runtime)
        http.add_routes(wiring.routes)
        context = ConsumerContext(
            service=definition.name,
            version=eventyard_version(),
            topology=topology,
            confirmer=confirmer,
            emitter=emitter,
            metrics=metrics,
            redactor=redactor,
            default_prefetch=settings.prefetch,
            reporter=reporter,
            tracing=tracing,
        )
        state.consumers = [StepConsumer(step, context) for step in wiring.steps]
        for consumer in state.consumers:
            await consumer.start(state.connection)
        state.wired = True
        freeze_long_lived_objects()
        log.info("ready", extra={"queues": [c.step.queue.name for c in state.consumers]})
        await stop.wait()
    finally:
        log.info("stopping")
        # HTTP first: requests in flight (a webhook waiting for its confirm) still have the
        # broker; new ones are refused by the closed socket, so senders retry elsewhere.
        server.should_exit = True
        await http_task
        await asyncio.gather(*(c.stop(settings.graceful_timeout_seconds) for c in state.consumers))
        if reporter is not None:
            await reporter.close(REPORTER_GRACE_SECONDS)
        for hook in wiring.on_stop:
            await hook()
        await gateway.aclose()
        if state.connection is not None:
            await state.connection.close()
        if tracing is not None:
            # The exporter's last batch goes out over blocking HTTP: not on the event loop.
            await asyncio.to_thread(tracing.close)
        log.info("stopped")


def _serve(
    http: ServiceApp, settings: Settings, port: int, *, shared_port: bool
) -> tuple[HttpServer, asyncio.Task[None]]:
    """Start serving HTTP; the server (to stop) and its task (to await)."""
    server = http_server(
        http.app,
        settings.http_host,
        port,
        grace=settings.graceful_timeout_seconds,
        limits=settings.http,
    )
    sockets = [shared_port_socket(settings.http_host, port)] if shared_port else None
    return server, asyncio.create_task(server.serve(sockets=sockets), name="http")


def build_redactor(settings: Settings, integrations: IntegrationsFile) -> Redactor:
    """A redactor that knows every secret the settings and the integrations file name."""
    redactor = Redactor(v for n in integrations.secret_names() if (v := os.environ.get(n)))
    redactor.add(settings.broker_url.get_secret_value())
    if settings.dedupe.url is not None:
        redactor.add(settings.dedupe.url.get_secret_value())
    redactor.add(settings.attempts.url.get_secret_value())
    if settings.console.token is not None:
        redactor.add(settings.console.token.get_secret_value())
    return redactor


def _reporter(
    service: str, settings: Settings, confirmer: Confirmer, metrics: Metrics
) -> AttemptReporter | None:
    """The service's attempts reporter, started; None when reporting is off."""
    if not settings.attempts.report:
        return None
    reporter = AttemptReporter(
        service,
        # Untraced: a batch of attempts is bookkeeping, not a hop; traced, it would start a
        # trace of its own twice a second in every service.
        Emitter(confirmer, source=f"eventyard/{service}", metrics=metrics),
        metrics,
        interval=settings.attempts.report_interval_seconds,
        capacity=settings.attempts.report_capacity,
    )
    reporter.start()
    return reporter


def build_gateway(
    integrations: IntegrationsFile,
    metrics: Metrics,
    redactor: Redactor,
    replicas: int = 1,
    tracing: Tracing | None = None,
) -> Gateway:
    """The process's one gateway, knowing every integration and destination.

    Each endpoint's rate limit is shared out between the `replicas` processes that call it (a
    limit is the far end's, not one process's); see docs/operating.md, "Growing past one
    machine".
    """
    policies = [
        *(policy_for_integration(n, c) for n, c in integrations.integrations.items()),
        *(policy_for_destination(n, c) for n, c in integrations.destinations.items()),
    ]
    if replicas > 1:
        policies = [
            dataclasses.replace(p, rate_limit_per_second=p.rate_limit_per_second / replicas)
            for p in policies
        ]
    return Gateway(policies, registry=metrics.registry, redactor=redactor, tracing=tracing)


def freeze_long_lived_objects() -> None:
    """Keep what start-up allocated (modules, models, schemas) out of every later collection.

    Those ~80,000 objects live as long as the process. Left in the collector's oldest
    generation, every full collection walks them all again and stalls every message and request
    in flight (50-140 ms measured in intake under load; see `python -m bench`). Once per
    process: later calls do nothing.
    """
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()


async def _connect(
    settings: Settings, name: str, stop: asyncio.Event
) -> AbstractRobustConnection | None:
    """Connect, retrying with backoff while the broker is down; None if told to stop first."""
    delay = 0.5
    while not stop.is_set():
        try:
            return await connect_robust(settings, name)
        except (ConnectionError, OSError) as error:
            log.warning(
                "broker unreachable; retrying",
                extra={
                    "broker": redacted_url(settings),
                    "error": type(error).__name__,
                    "retry_in": delay,
                },
            )
        except aiormq.exceptions.AMQPError as error:
            # The broker answered but refused: a vhost not created yet, or no permission on it.
            log.warning(
                "broker refused the connection (does the vhost exist, may this user use it?); "
                "retrying",
                extra={
                    "broker": redacted_url(settings),
                    "error": type(error).__name__,
                    "retry_in": delay,
                },
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 10.0)
    return None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
