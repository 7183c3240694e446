"""health: watches the broker, every queue and every integration; keeps the catalogue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts.integrations import IntegrationHealthChangedV1
from services.health.attempts import ACCEPTS as ATTEMPTS_ACCEPTS
from services.health.attempts import QUEUE as ATTEMPTS_QUEUE
from services.health.attempts import LogStore, prune_forever, record_attempts
from services.health.checks import Checker, probe_policy
from services.health.console import console_routes
from services.health.live import LiveRates
from services.health.metrics import HealthMetrics
from services.health.probes import with_provider_probes
from services.health.reads import ReadWatcher, metrics_policy
from services.health.report import SEVERITY, Change, HealthReport
from shared.broker import connect
from shared.config import IntegrationsFile
from shared.consumer import Step
from shared.publishing import Emitter
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

log = logging.getLogger(__name__)

NAME = "health"
INTEGRATION_PREFIX = "integration:"


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """health consumes the outcome events, for the attempts log."""
    return [ATTEMPTS_QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """Start the check loop; serve `/health`."""
    settings = runtime.settings
    integrations = with_provider_probes(runtime.integrations)
    for name, config in integrations.items():
        if config.health_url:
            runtime.gateway.add(probe_policy(name, config))
    metrics = HealthMetrics(runtime.metrics.registry)
    endpoints = metrics_endpoints(runtime)
    live = LiveRates(runtime.gateway, endpoints, every=settings.health.live_interval_seconds)
    checker = Checker(
        reads=read_watcher(runtime, endpoints),
        settings=settings.health,
        topology=runtime.topology,
        integrations=integrations,
        gateway=runtime.gateway,
        connect=lambda: connect(settings, "eventyard-health-check", within=5),
        metrics=metrics,
    )
    report = HealthReport()
    criticality = {n: c.criticality for n, c in runtime.integrations.integrations.items()}
    # Set by a console action that may have moved messages: the next round starts at once, not
    # after the interval, so that the overview's counts show what the action did.
    recheck = asyncio.Event()

    async def loop() -> None:
        while True:
            recheck.clear()  # a request made during this round still gets a round after it
            changes = report.record(await checker.round())
            for name, state in report.components.items():
                metrics.component.labels(name).set(SEVERITY[state.status])
            for change in changes:
                await announce(runtime.emitter, change, criticality)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recheck.wait(), settings.health.interval_seconds)

    task = asyncio.create_task(loop(), name="health-checks")
    sampling = asyncio.create_task(live.run(), name="health-live-rates")

    async def stop() -> None:
        for running in (task, sampling):
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def health(_: Request) -> Response:
        return JSONResponse(report.as_json())

    store = LogStore(settings.attempts.url.get_secret_value())
    pruning = asyncio.create_task(prune_forever(store, settings.attempts), name="attempts-prune")

    async def close_store() -> None:
        pruning.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruning
        await store.close()

    step = Step(  # bookkeeping: its writes would feed the log, its spans would be noise
        ATTEMPTS_QUEUE,
        record_attempts(store, runtime.redactor),
        accepts=ATTEMPTS_ACCEPTS,
        reported=None,
        traced=False,
    )
    console = console_routes(
        report,
        runtime.topology,
        runtime.integrations,
        log=store,
        live=live,
        connect=lambda: connect(settings, "eventyard-health-console", within=5),
        settings=settings,
        acted=recheck.set,
    )
    return Wiring(
        steps=[step],
        routes=[Route("/health", health, methods=["GET"]), *console],
        on_stop=[stop, close_store],
    )


def metrics_endpoints(runtime: Runtime) -> list[str]:
    """A gateway endpoint per service's /metrics (read for cached queries and live rates)."""
    settings = runtime.settings.health
    urls = [str(u) for u in settings.metrics_urls] or default_metrics_urls()
    endpoints = []
    for number, url in enumerate(urls):
        endpoint = f"metrics-{number}"
        runtime.gateway.add(metrics_policy(endpoint, url, settings.check_timeout_seconds))
        endpoints.append(endpoint)
    return endpoints


def read_watcher(runtime: Runtime, endpoints: Sequence[str]) -> ReadWatcher | None:
    """Watches every declared cached query through the services' /metrics, if any is declared."""
    declared = [
        f"{name}.{query}"
        for name, config in runtime.integrations.integrations.items()
        for query in config.reads
    ]
    if not declared:
        return None
    return ReadWatcher(declared, runtime.gateway, endpoints)


def default_metrics_urls() -> list[str]:
    """The other services of the yard on loopback, at their default ports."""
    # Imported here: the yard's catalogue imports this service's definition.
    from services.yard import service_urls  # noqa: PLC0415

    return [url for name, url in service_urls().items() if name != NAME]


async def announce(emitter: Emitter, change: Change, criticality: Mapping[str, str | None]) -> None:
    """Publish `integration.health.changed.v1` for an integration whose status changed."""
    if not change.component.startswith(INTEGRATION_PREFIX):
        return
    if change.previous is None and change.current == "healthy":
        return  # the first look at a healthy integration is not news
    name = change.component.removeprefix(INTEGRATION_PREFIX)
    log.warning(
        "integration health changed",
        extra={
            "integration": name,
            "from": change.previous,
            "to": change.current,
            "reason": change.reason,
        },
    )
    await emitter.publish(
        IntegrationHealthChangedV1(
            integration=name,
            previous=change.previous,
            current=change.current,
            reason=change.reason[:500],
            criticality=criticality.get(name),
            changed_at=change.at,
        ),
        subject=name,
        require_route=False,
    )


DEFINITION = ServiceDefinition(
    NAME,
    8004,
    queues,
    wire,
    summary="Watches the broker, every queue and every integration; keeps the catalogue.",
    emits=(IntegrationHealthChangedV1,),
)
