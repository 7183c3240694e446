"""The demo's stand-ins: a partner that verifies signatures, a CRM that can go down, a warehouse,
a payment provider and an analytics provider (each answering as the demo's adapter expects)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.intake.signatures import VerificationError, verify
from shared.errors import EventyardError
from shared.http import http_server

PARTNER_PORT, CRM_PORT, WAREHOUSE_PORT, PAYMENTS_PORT, ANALYTICS_PORT = range(9101, 9106)


@dataclass
class Hit:
    """One request a stand-in answered."""

    standin: str
    path: str
    status: int
    body: Any
    idempotency_key: str | None
    webhook_id: str | None = None
    verified: bool | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class StandIns:
    """All five; every hit is recorded and also queued for the narrator."""

    partner_secret: str
    crm_down: bool = False
    hits: list[Hit] = field(default_factory=list)
    feed: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def _record(self, hit: Hit) -> None:
        self.hits.append(hit)
        self.feed.put_nowait(hit)

    async def _body(self, request: Request) -> tuple[bytes, Any]:
        raw = await request.body()
        try:
            return raw, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return raw, raw.decode("utf-8", "replace")

    def partner(self) -> Starlette:
        """Receives outbound webhooks and verifies their Standard Webhooks signature."""

        async def hooks(request: Request) -> Response:
            raw, body = await self._body(request)
            try:
                verify(
                    "standard-webhooks",
                    body=raw,
                    headers=request.headers,
                    secrets=[self.partner_secret],
                    tolerance_seconds=300,
                    now=time.time(),
                )
                verified = True
            except VerificationError:
                verified = False
            self._record(
                Hit(
                    "partner",
                    request.url.path,
                    200 if verified else 401,
                    body,
                    request.headers.get("idempotency-key"),
                    request.headers.get("webhook-id"),
                    verified,
                )
            )
            return JSONResponse({"ok": verified}, status_code=200 if verified else 401)

        return Starlette(routes=[Route("/hooks", hooks, methods=["POST"])])

    def crm(self) -> Starlette:
        """Upserts orders and answers profile reads; answers 503 while `crm_down`."""

        async def sync(request: Request) -> Response:
            _, body = await self._body(request)
            status = 503 if self.crm_down else 200
            self._record(
                Hit("crm", request.url.path, status, body, request.headers.get("idempotency-key"))
            )
            return JSONResponse({"id": f"crm-{len(self.hits)}"}, status_code=status)

        async def profile(request: Request) -> Response:
            status = 503 if self.crm_down else 200
            self._record(Hit("crm", request.url.path, status, None, None))
            if self.crm_down:
                return JSONResponse({"error": "down"}, status_code=status)
            customer = request.path_params["customer_id"]
            return JSONResponse({"name": f"{customer} (from the CRM)", "locale": "en-GB",
                                 "tier": "gold"})  # fmt: skip

        async def health(_: Request) -> Response:
            return JSONResponse(
                {"ok": not self.crm_down}, status_code=503 if self.crm_down else 200
            )

        return Starlette(
            routes=[
                Route("/customers/{customer_id}", profile, methods=["GET"]),
                Route("/orders/sync", sync, methods=["POST"]),
                Route("/health", health, methods=["GET"]),
            ]
        )

    def warehouse(self) -> Starlette:
        """Takes shipments."""

        async def shipments(request: Request) -> Response:
            _, body = await self._body(request)
            self._record(
                Hit(
                    "warehouse", request.url.path, 201, body, request.headers.get("idempotency-key")
                )
            )
            return JSONResponse({"id": f"shp-{len(self.hits)}"}, status_code=201)

        async def health(_: Request) -> Response:
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/shipments", shipments, methods=["POST"]),
                Route("/health", health, methods=["GET"]),
            ]
        )

    def payments(self) -> Starlette:
        """Refunds as the demo's payment adapter (stripe) sends them: a form-encoded POST."""

        async def refunds(request: Request) -> Response:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            body = {name: values[0] for name, values in form.items()}
            self._record(
                Hit("payments", request.url.path, 200, body, request.headers.get("idempotency-key"))
            )
            amount = int(body.get("amount", "0")) if body.get("amount", "").isdigit() else 0
            return JSONResponse({"id": f"re_demo_{len(self.hits)}", "object": "refund",
                                 "status": "succeeded", "amount": amount, "currency": "eur",
                                 "payment_intent": body.get("payment_intent")})  # fmt: skip

        async def balance(_: Request) -> Response:
            return JSONResponse({"object": "balance", "available": []})

        return Starlette(
            routes=[
                Route("/v1/refunds", refunds, methods=["POST"]),
                Route("/v1/balance", balance, methods=["GET"]),
            ]
        )

    def analytics(self) -> Starlette:
        """Track calls as the demo's analytics adapter (segment) sends them."""

        async def track(request: Request) -> Response:
            _, body = await self._body(request)
            self._record(Hit("analytics", request.url.path, 200, body, None))
            return JSONResponse({"success": True})

        async def health(_: Request) -> Response:
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/v1/track", track, methods=["POST"]),
                Route("/health", health, methods=["GET"]),
            ]
        )


@asynccontextmanager
async def standins_served(standins: StandIns) -> AsyncIterator[None]:
    """Serve the stand-ins on their fixed loopback ports."""
    servers = [
        http_server(app, "127.0.0.1", port)
        for app, port in (
            (standins.partner(), PARTNER_PORT),
            (standins.crm(), CRM_PORT),
            (standins.warehouse(), WAREHOUSE_PORT),
            (standins.payments(), PAYMENTS_PORT),
            (standins.analytics(), ANALYTICS_PORT),
        )
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    try:
        for server, task in zip(servers, tasks, strict=True):
            while not server.started:
                if task.done():
                    raise EventyardError(
                        f"cannot serve the stand-ins on ports {PARTNER_PORT}-{ANALYTICS_PORT}: "
                        "is another demo running?"
                    )
                await asyncio.sleep(0.02)
        yield
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
