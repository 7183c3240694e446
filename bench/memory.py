"""Comparison 7: resident memory of each service idle, after N messages, and after N more.

All five services run as processes. Each message is a signed `order.paid` webhook into intake,
which becomes `order.created.v1`: order-followup asks for the confirmation email, email renders
and "sends" it (console provider, output discarded), and the publisher fans the order out to a
local receiver. So each of intake, order-followup, email and publisher handles N messages per
phase (health only watches). A second phase of N shows whether memory keeps growing (a leak)
or levels off (bounded caches: intake remembers at most 100,000 delivery ids).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import tracemalloc
import uuid

from aio_pika.abc import AbstractConnection

from bench import progress
from bench.core import BenchConfig, Row, Section, Target, at_most
from bench.http_load import SignedBatch, closed_loop
from bench.infra import OrderEvents, depth, port, progress_env, purge, spawn, stop_all, wait_for
from bench.intake import SECRET, SECRET_ENV, webhook_body
from bench.yard import yard
from services.intake.dedupe import Window
from shared.settings import DedupeSettings

DESTINATION_SECRET = "whsec_" + base64.b64encode(b"bench-destination-secret-0123").decode()
IDLE_LIMIT_MB = 80.0
IDLE_SETTLE = 3.0
GROWTH_LIMIT = 0.05
CONNECTIONS = 16
WORK_QUEUES = ("order-followup.confirmation", "email.send", "publisher.dest.sink")
UNCONSUMED = ("order-followup.crm", "order-followup.warehouse")


def dedupe_entry_bytes(entries: int = 20_000) -> float:
    """Bytes one remembered delivery takes in intake's in-memory window (tracemalloc)."""
    window = Window(entries, 86_400)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(entries):
            # The shapes intake stores: `source:webhook-id` -> an event id.
            window[f"shop:msg_{uuid.uuid4().hex[:12]}_{n}"] = str(uuid.uuid4())
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / entries
    finally:
        tracemalloc.stop()


async def memory(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Idle, then two phases of N messages; RSS of each service after each."""
    n = config.memory_messages
    receiver_port = port()
    received = config.workdir / "memory-received"
    progress.reset(received)
    receiver = spawn("memory-receiver", ["bench.workers.receiver", str(receiver_port), "ok"],
                     config.workdir, progress_env(received))  # fmt: skip
    integrations = {
        "sources": {
            "shop": {
                "scheme": "standard-webhooks",
                "secrets": [SECRET_ENV],
                "map": {"order.paid": "order.created.v1"},
                # The batch is signed up front and a phase can outlast the default 300 s: the
                # rest would be refused as too old, and the phase would never drain.
                "tolerance_seconds": 86_400,
            }
        },
        "destinations": {}
        if not config.memory_publisher
        else {
            "sink": {
                "url": f"http://127.0.0.1:{receiver_port}/hook",
                "events": ["order.created.v1"],
                "secrets": ["BENCH_DEST_SECRET"],
                "allow_private_network": True,
                "concurrency": 50,
                "rate_limit_per_second": 100_000,
            }
        },
    }
    env = {SECRET_ENV: SECRET, "BENCH_DEST_SECRET": DESTINATION_SECRET}
    queues = WORK_QUEUES if config.memory_publisher else WORK_QUEUES[:2]
    body = webhook_body(OrderEvents())
    rss: dict[str, list[float]] = {}
    try:
        async with yard(config, integrations, tag="memory", env=env) as services:
            procs = [s.proc for s in services.values()]
            url = f"{services['intake'].url}/webhooks/shop"
            await asyncio.sleep(IDLE_SETTLE / 3 if config.quick else IDLE_SETTLE)
            rss = {name: [s.proc.rss_mb()] for name, s in services.items()}
            for phase in (1, 2):
                batch = SignedBatch(SECRET, body, n)
                await closed_loop(url, batch, seconds=3600, connections=CONNECTIONS, count=n)

                async def drained(target: int = phase * n) -> bool:
                    if config.memory_publisher and progress.read(received).count < target:
                        return False
                    depths = [await depth(connection, q) for q in queues]
                    return not any(depths)

                await wait_for(drained, within=120 + n / 50, every=0.5, procs=procs,
                               what=f"phase {phase} drained")  # fmt: skip
                await purge(connection, *UNCONSUMED)
                for name, service in services.items():
                    rss[name].append(service.proc.rss_mb())
    finally:
        await stop_all([receiver])
    section = Section(7, "memory", "Memory")
    for name, (idle, first, second) in rss.items():
        section.rows += [
            Row(name, "RSS MB idle", [idle], digits=1),
            Row(name, f"RSS MB after {n:,}", [first], digits=1),
            Row(name, f"RSS MB after {2 * n:,}", [second], digits=1),
        ]
    worst_idle = max(v[0] for v in rss.values())
    growth = {name: (v[2] - v[1]) / v[1] for name, v in rss.items()}
    worst_growth = max(growth.values())
    section.targets = [
        at_most(
            f"idle RSS <= {IDLE_LIMIT_MB:g} MB for each service", worst_idle, IDLE_LIMIT_MB, "MB"
        ),
        at_most(
            f"no growth across the second {n:,} (<= {GROWTH_LIMIT:.0%})",
            worst_growth,
            GROWTH_LIMIT,
            "fraction",
        ),
    ]
    section.targets[-1].detail = ", ".join(f"{name} {g:+.1%}" for name, g in growth.items())
    entry = dedupe_entry_bytes()
    window = DedupeSettings().max_entries
    bound = max(rss["intake"]) + window * entry / 1e6
    section.rows += [
        Row("intake dedupe window", "bytes per remembered delivery", [entry]),
        Row(
            "intake", f"RSS MB bound, any number of requests (window {window:,})", [bound], digits=1
        ),
    ]
    section.targets.append(
        Target(
            "intake RSS over 1,000,000 requests is bounded: its RSS after 2 phases + the dedupe "
            "window (max entries x bytes per entry)",
            None,
            f"<= {bound:.0f} MB ({window:,} x {entry:.0f} B + {max(rss['intake']):.0f} MB)",
            bound,
            sense="report",
            unit="MB",
        )
    )
    if not config.memory_publisher:
        section.notes.append(
            "--memory-without-destination: no destination, so the publisher only idled (its "
            "'after' rows are not a delivery load)"
        )
    delivered = ", and publisher -> a local receiver" if config.memory_publisher else ""
    section.notes.append(
        f"{n:,} signed webhooks per phase through intake -> order-followup -> email{delivered}; "
        "RSS once every queue had drained; the CRM and warehouse steps have no integration "
        "configured, so their queues were purged"
    )
    return section
