"""Comparison 3: signed webhooks accepted per second by intake, against a naive intake.

Per round, interleaved, under `connections` connections of closed-loop load: intake (verify +
dedupe + validate + map to a contract + confirmed publish + 202), the naive intake of
`bench.workers.naive_intake` (Starlette + the same signature check + a confirmed aio-pika
publish per request, written plainly), and for context a bare Starlette endpoint answering 202
without work and raw pipelined confirmed publish (the broker's ceiling here). Then intake at a
steady half of its median peak, open loop, for p50/p99/p99.9.
"""

from __future__ import annotations

import base64
import os
import socket
import statistics
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson
from aio_pika.abc import AbstractConnection

from bench.core import (
    BenchConfig,
    Measurement,
    Row,
    Section,
    at_least,
    at_most,
    interleave,
    rows_from,
)
from bench.http_load import SignedBatch, have_wrk, paced, peak
from bench.infra import OrderEvents, Proc, eventyard_env, port, purge, spawn, stop_all, wait_for
from bench.infra import wait_ready as service_ready
from bench.publish import SINK, prepare, raw_round
from tests.support.toml import write_integrations

SECRET = "whsec_" + base64.b64encode(b"bench-shop-signing-secret-0123").decode()
SECRET_ENV = "BENCH_SHOP_SECRET"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PEAK_HEADROOM = 8000  # signed ids per second of load, more than either server can answer


def webhook_body(events: OrderEvents) -> bytes:
    """A shop's `order.paid` webhook, mapped by intake to `order.created.v1` and validated."""
    return orjson.dumps(
        {"type": "order.paid", "timestamp": "2026-11-20T09:14:03Z", "data": events.payload}
    )


async def start_intake(
    config: BenchConfig, tree: Path | None = None, *, workers: int = 1
) -> tuple[Proc, str]:
    """intake as `eventyard run intake [--workers N]`, with one standard-webhooks source `shop`.

    With workers, they share the local Redis as their dedupe store (BENCH_REDIS_URL).
    """
    toml = write_integrations(
        config.workdir / "intake.toml",
        {
            "sources": {
                "shop": {
                    "scheme": "standard-webhooks",
                    "secrets": [SECRET_ENV],
                    "map": {"order.paid": "order.created.v1"},
                }
            }
        },
    )
    http = port()
    env = eventyard_env(config.broker_url, EVENTYARD_CONFIG=str(toml), **{SECRET_ENV: SECRET})
    extra: list[str] = []
    if workers > 1:
        env["EVENTYARD_DEDUPE__URL"] = REDIS_URL
        extra = ["--workers", str(workers)]
    name = "intake" if tree is None else f"intake-{tree.name}"
    name += f"-x{workers}" if workers > 1 else ""
    proc = spawn(name, ["cli.main", "run", "intake", "--port", str(http), *extra],
                 config.workdir, env, tree=tree)  # fmt: skip
    url = f"http://127.0.0.1:{http}"
    await service_ready(url, [proc])
    return proc, f"{url}/webhooks/shop"


async def start_bare(config: BenchConfig) -> tuple[Proc, str]:
    """The bare Starlette endpoint."""
    http = port()
    proc = spawn("bare-starlette", ["bench.workers.bare", str(http)], config.workdir)
    url = f"http://127.0.0.1:{http}/webhooks/shop"
    async with httpx.AsyncClient(timeout=2) as client:

        async def answers() -> bool:
            try:
                return (await client.post(url, content=b"{}")).status_code == 202
            except httpx.TransportError:
                return False

        await wait_for(answers, within=30, every=0.1, procs=[proc], what="bare endpoint")
    return proc, url


NAIVE = "naive intake"


async def start_naive(config: BenchConfig) -> tuple[Proc, str]:
    """The naive intake (bench.workers.naive_intake)."""
    http = port()
    proc = spawn("naive-intake", ["bench.workers.naive_intake", str(http), config.broker_url,
                                  SECRET], config.workdir)  # fmt: skip
    url = f"http://127.0.0.1:{http}/webhooks/shop"
    await wait_for(lambda: _listening(http), within=30, every=0.1, procs=[proc], what=NAIVE)
    return proc, url


def _listening(http: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", http)) == 0


async def intake(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Peak rates interleaved, then latency at half of intake's median peak."""
    events = OrderEvents()
    await prepare(connection, events.key)
    body = webhook_body(events)
    service, intake_url = await start_intake(config)
    bare, bare_url = await start_bare(config)
    naive, naive_url = await start_naive(config)
    procs = [service, bare, naive]
    contestants: dict[str, Callable[[], Awaitable[Measurement]]] = {}
    seconds, connections = config.http_seconds, config.connections

    def http_round(url: str, *, accepted: bool = False) -> Callable[[], Awaitable[Measurement]]:
        async def round_() -> Measurement:
            batch = SignedBatch(SECRET, body, int(seconds * PEAK_HEADROOM) + 1000)
            result = await peak(
                url, batch, seconds=seconds, connections=connections, workdir=config.workdir
            )
            await purge(connection, SINK)
            return {
                "rate": result.rate if accepted else result.requests / seconds,
                "p50": result.p50_ms,
                "p99": result.p99_ms,
                "refused": float(result.other + result.errors),
            }

        return round_

    async def raw() -> Measurement:
        rate = await raw_round(connection, events, config.messages, config.concurrency)
        await purge(connection, SINK)
        return {"rate": rate}

    try:
        contestants = {
            "raw confirmed publish": raw,
            "intake": http_round(intake_url, accepted=True),
            NAIVE: http_round(naive_url, accepted=True),
            "bare starlette": http_round(bare_url),
        }
        if config.against:
            other, other_url = await start_intake(config, config.against)
            procs.append(other)
            contestants[f"intake {config.against_label}"] = http_round(other_url, accepted=True)
        results = await interleave(config.rounds, contestants)
        half = statistics.median(results["intake"]["rate"]) / 2
        steady = []
        for _ in range(config.rounds):
            batch = SignedBatch(SECRET, body, int(half * seconds) + 100)
            steady.append(
                await paced(intake_url, batch, rate=half, seconds=seconds, connections=connections)
            )
            await purge(connection, SINK)
    finally:
        await stop_all(procs)

    section = Section(3, "intake", "Intake")
    section.rows = [
        *rows_from(results, "rate", baseline=NAIVE, label="per second"),
        *rows_from(results, "p50", baseline="bare starlette", label="p50 ms at peak", digits=1),
        *rows_from(results, "p99", baseline="bare starlette", label="p99 ms at peak", digits=1),
        Row(f"intake at {half:,.0f}/s", "p50 ms", [r.p50_ms for r in steady], digits=1),
        Row(f"intake at {half:,.0f}/s", "p99 ms", [r.p99_ms for r in steady], digits=1),
        Row(f"intake at {half:,.0f}/s", "p99.9 ms", [r.p999_ms for r in steady], digits=1),
    ]
    ratio = section.ratio_of("intake", NAIVE, "per second")
    p99 = statistics.median(r.p99_ms for r in steady)
    section.targets = [
        at_least("intake >= 1.0x the naive intake's rate", ratio, 1.0),
        at_most("intake p99 < 20 ms at half its peak rate", p99, 20, "ms"),
    ]
    refused = sum(results["intake"]["refused"]) + sum(r.other + r.errors for r in steady)
    generator = "wrk (2 threads)" if have_wrk() else "the bench's asyncio client"
    section.notes += [
        f"{connections} connections of closed-loop load from {generator} for {seconds:g} s per "
        f"round; each request a fresh signed order.paid delivery mapped to order.created.v1",
        f"half-peak latency: open loop at {half:,.0f}/s from the bench's asyncio client, "
        "measured from each request's scheduled time",
        f"requests not answered 202 by intake: {refused:,.0f}",
    ]
    return section
