"""A bare Starlette endpoint that reads the body and answers 202, served like the services.

`python -m bench.workers.bare PORT`: the same uvicorn configuration as every eventyard service
(`shared.http.http_server`), so the difference to intake is intake's own work.
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared import event_loop
from shared.http import http_server


async def accept(request: Request) -> Response:
    """Read the body, do nothing, answer 202."""
    await request.body()
    return Response(b'{"event_id": "-"}', status_code=202, media_type="application/json")


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    app = Starlette(routes=[Route("/webhooks/{source}", accept, methods=["POST"])])
    server = http_server(app, "127.0.0.1", args.port)
    event_loop.run(server.serve())


if __name__ == "__main__":
    main()
