"""intake: verified webhooks and dropped messages in, acknowledged only once stored."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import Route

from contracts.orders import OrderCreatedV1
from contracts.users import UserAuthenticatedV1
from contracts.webhooks import WebhookReceivedV1
from services.intake.dedupe import Deduplicator, DeliveryStore, MemoryStore
from services.intake.dropped import decode_dropped, republisher
from services.intake.metrics import IntakeMetrics
from services.intake.oauth import OAuthRoutes, endpoints, load_provider
from services.intake.routing import Parker, Router
from services.intake.sources import load_source
from services.intake.webhooks import WebhookEndpoint
from shared.config import IntegrationsFile
from shared.consumer import Reported, Step
from shared.request_body import BodyBudget
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.settings import Settings
from shared.topology import INTAKE_QUEUE, WorkQueue

NAME = "intake"
# A consumer holds up to its prefetch of messages in memory, and a producer may drop messages
# as large as the broker takes (RabbitMQ's default: 128 MiB; compose.yaml sets 8 MiB): fewer
# than the services' default keeps that bound small while confirms still overlap.
DROP_PREFETCH = 32
# Producers drop into the `intake` exchange (or, where they are trusted with the default
# exchange, straight into the queue of the same name).
QUEUE = WorkQueue(INTAKE_QUEUE, service=NAME, door=INTAKE_QUEUE)


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """The `intake` queue producers drop messages into (no binding: addressed directly)."""
    return [QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """The webhook endpoint and the dropped-messages step share one router."""
    sources = {
        name: load_source(name, config) for name, config in runtime.integrations.sources.items()
    }
    router = Router(runtime.integrations.sources, runtime.emitter)
    store = delivery_store(runtime.settings)
    endpoint = WebhookEndpoint(
        sources,
        router=router,
        parker=Parker(runtime.emitter.confirmer, QUEUE, runtime.redactor),
        metrics=IntakeMetrics(runtime.metrics.registry),
        dedupe=Deduplicator(store),
        budget=BodyBudget(runtime.settings.http.max_body_bytes_in_flight),
        reporter=runtime.reporter,
    )
    providers = {}
    for name, config in runtime.integrations.oauth.items():
        for policy in endpoints(name, config):
            runtime.gateway.add(policy)
        providers[name] = load_provider(name, config)
    oauth = OAuthRoutes(
        providers, gateway=runtime.gateway, emitter=runtime.emitter, redactor=runtime.redactor
    )
    return Wiring(
        steps=[
            Step(
                QUEUE,
                republisher(router),
                prefetch=DROP_PREFETCH,
                decoder=decode_dropped,
                reported=Reported("drop"),
            )
        ],
        routes=[Route("/webhooks/{source}", endpoint.handle, methods=["POST"]), *oauth.routes()],
        on_stop=[store.aclose],
    )


def delivery_store(settings: Settings) -> DeliveryStore:
    """Redis when a URL is set (several intake processes), else this process's window."""
    dedupe = settings.dedupe
    if dedupe.url is None:
        return MemoryStore(dedupe.window_seconds, dedupe.max_entries)
    # A claim outlives the longest publish (its confirm timeout), so it expires only when the
    # process holding it died.
    claim = settings.publish_timeout_seconds + 5
    # Imported only when configured: redis-py is ~5 MB of a process that does not use it.
    from services.intake.redis_store import RedisStore  # noqa: PLC0415

    return RedisStore.from_url(
        dedupe.url.get_secret_value(), window_seconds=dedupe.window_seconds, claim_seconds=claim
    )


DEFINITION = ServiceDefinition(
    NAME,
    8000,
    queues,
    wire,
    summary="Verifies webhooks and validates dropped messages; publishes them once stored.",
    emits=(WebhookReceivedV1, OrderCreatedV1, UserAuthenticatedV1),
)
