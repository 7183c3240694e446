"""A local HTTP receiver that verifies our signatures, dedupes, and misbehaves on request."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shared.http import http_server
from tests.support.services import free_port


@dataclass
class Hit:
    """One request as the receiver saw it."""

    at: float
    webhook_id: str | None
    idempotency_key: str | None
    verified: bool
    body: Any
    headers: dict[str, str]
    path: str = ""
    status: int = 0
    replay: bool = False  # a deduping receiver answered it without acting again

    @property
    def key(self) -> str | None:
        """What a deduping receiver acts once per: `Idempotency-Key`, else `webhook-id`."""
        return self.idempotency_key or self.webhook_id


@dataclass
class Receiver:
    """Records every hit; answers `status` (or the next of `script`), maybe after `delay`.

    Every 2xx answer is an action (the side effect) unless `dedupe` is set: then, like a real
    partner, it acts only on a key it has not acted on yet, and answers a repeat with the
    same status without acting (the hit is marked `replay`). `hits` counts raw requests.
    """

    secret: str | None = None
    status: int = 200
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""
    dedupe: bool = False
    actions: list[Hit] = field(default_factory=list)
    # Answer with this many bytes of body, streamed (a partner that says too much).
    answer_bytes: int = 0

    @property
    def base(self) -> str:
        """The receiver's origin, for an integration's `base_url`."""
        return self.url.removesuffix("/hook")

    @property
    def succeeded(self) -> list[Hit]:
        """Hits answered with a 2xx."""
        return [hit for hit in self.hits if 200 <= hit.status < 300]

    @property
    def unique(self) -> Counter[str]:
        """Hits per webhook id (a receiver deduping by id would act once per key)."""
        return Counter(h.webhook_id or "" for h in self.hits)

    @property
    def by_idempotency_key(self) -> Counter[str]:
        """Hits per Idempotency-Key: a receiver deduping by key acts once per entry here."""
        return Counter(h.idempotency_key or "" for h in self.hits)

    @property
    def acted(self) -> Counter[str]:
        """Actions per key: at most 1 each on a deduping receiver, whatever was redelivered."""
        return Counter(hit.key or "" for hit in self.actions)

    @property
    def in_flight(self) -> list[Hit]:
        """Hits still being answered (the receiver is sleeping on them)."""
        return [hit for hit in self.hits if hit.status == 0]

    @property
    def verified(self) -> bool:
        """Whether every hit carried a valid signature."""
        return all(h.verified for h in self.hits)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, dict(request.headers))
                verified = True
            except WebhookVerificationError:
                verified = False
        hit = Hit(
            at=time.monotonic(),
            webhook_id=request.headers.get("webhook-id"),
            idempotency_key=request.headers.get("idempotency-key"),
            verified=verified,
            body=orjson.loads(body) if body else None,
            headers=dict(request.headers),
            path=request.url.path,
        )
        self.hits.append(hit)
        if self.delay:
            await asyncio.sleep(self.delay)
        hit.status = self.script.pop(0) if self.script else self.status
        if 200 <= hit.status < 300:
            self._act(hit)
        if self.answer_bytes:
            return StreamingResponse(_filler(self.answer_bytes), status_code=hit.status)
        answer = {"ok": hit.status < 300, "id": f"ref-{len(self.hits)}"}
        return JSONResponse(answer, status_code=hit.status, headers=self.headers)

    def _act(self, hit: Hit) -> None:
        """Perform the side effect, or (deduping, key already acted on) mark a replay."""
        if self.dedupe and hit.key is not None and hit.key in self.acted:
            hit.replay = True
        else:
            self.actions.append(hit)


async def _filler(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        part = min(chunk, size - sent)
        sent += part
        yield b"x" * part


@asynccontextmanager
async def serving(receiver: Receiver, port: int | None = None) -> AsyncIterator[Receiver]:
    """Serve the receiver on a loopback port (its `url` is set) until the block ends."""
    port = port or free_port()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST", "GET"])])
    server = http_server(app, "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
