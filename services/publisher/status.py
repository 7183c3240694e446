"""`GET /destinations`: each destination's state as this replica sees it."""

from __future__ import annotations

from collections.abc import Mapping

from aio_pika.abc import AbstractConnection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.publisher.fanout import destination_queue
from services.publisher.switches import state
from shared.config import DestinationConfig
from shared.gateway import Gateway, url_origin
from shared.parking import depth


def destinations_route(
    destinations: Mapping[str, DestinationConfig],
    gateway: Gateway,
    connection: AbstractConnection,
) -> Route:
    """A route listing destinations with state, queue depths and breaker state."""

    async def listing(_: Request) -> Response:
        rows = []
        for name, config in destinations.items():
            disabled = await state(connection, name)
            queue = destination_queue(name)
            ready = await depth(connection, queue)
            parked = await depth(connection, queue + ".parked")
            rows.append(
                {
                    "name": name,
                    "url": url_origin(str(config.url)),
                    "policy": config.policy,
                    "events": config.events,
                    "state": "disabled" if disabled else "enabled",
                    "disabled_reason": disabled.reason if disabled else None,
                    "queue_depth": ready[0] if ready else None,
                    "consumers": ready[1] if ready else None,
                    "parked": parked[0] if parked else None,
                    "breaker": gateway.breaker_state(name),
                }
            )
        return JSONResponse({"destinations": rows})

    return Route("/destinations", listing, methods=["GET"])
