"""A naive webhook intake, written plainly: Starlette, the signature check, a confirmed publish.

`python -m bench.workers.naive_intake PORT BROKER_URL SECRET`: what a team would write in an
afternoon. Per request: read the body, check the Standard Webhooks signature and timestamp,
parse the JSON, publish it to `events` (persistent, on a channel with publisher confirms, so
the publish returns once the broker has it) and answer 202. No validation, no mapping to a
contract, no deduplication, no limits: the contestant intake must at least match.
Served with the same uvicorn settings as the services (`shared.http.http_server`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import time
import uuid

import aio_pika
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared import event_loop
from shared.http import http_server

TOLERANCE_SECONDS = 300
ROUTING_KEY = "order.created.v1"


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("broker_url")
    parser.add_argument("secret")
    args = parser.parse_args()
    event_loop.run(serve(args.port, args.broker_url, args.secret))


async def serve(port: int, broker_url: str, secret: str) -> None:
    """Connect to the broker, then serve the endpoint until SIGTERM."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    connection = await aio_pika.connect_robust(broker_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange("events")

    async def receive(request: Request) -> Response:
        body = await request.body()
        webhook_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "0")
        if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            return JSONResponse({"error": "stale"}, status_code=401)
        signed = f"{webhook_id}.{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        offered = [
            s.partition(",")[2] for s in request.headers.get("webhook-signature", "").split()
        ]
        if not any(hmac.compare_digest(expected, s) for s in offered):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        payload = orjson.loads(body)
        event_id = str(uuid.uuid4())
        event = {"id": event_id, "type": "order.created", "source": "shop", "data": payload}
        await exchange.publish(
            aio_pika.Message(
                orjson.dumps(event),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=event_id,
            ),
            ROUTING_KEY,
        )
        return JSONResponse({"event_id": event_id}, status_code=202)

    app = Starlette(routes=[Route("/webhooks/{source}", receive, methods=["POST"])])
    async with connection:
        await http_server(app, "127.0.0.1", port).serve()


if __name__ == "__main__":
    main()
