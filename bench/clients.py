"""Comparison 10: HTTP clients POSTing to a local receiver, CPU per request by concurrency.

Why the gateway sits on aiohttp under httpx (shared/gateway/pools.py): each client makes the
same ~1 KB POSTs from C tasks (`bench.workers.client_load`, uvloop, a process of its own per
round) to one receiver that answers 200 at once. `gateway` is the yard's whole call path over
the chosen pool (SSRF check, breaker, limiter, response cap, audit metric).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractConnection

from bench import progress
from bench.core import BenchConfig, Measurement, Section, Target, interleave, rows_from
from bench.infra import port, progress_env, spawn, stop_all, wait_for

# The contestants of bench.workers.client_load.
CLIENTS = ("aiohttp", "httpx-aiohttp", "httpx-yard-pool", "httpx", "gateway")
CONCURRENCY = (16, 64)


async def clients(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Every client at every concurrency, interleaved."""
    del connection  # no broker here
    requests = 300 if config.quick else 2000
    receiver_port, receiver_dir = port(), config.workdir / "clients-receiver"
    progress.reset(receiver_dir)
    receiver = spawn("clients-receiver", ["bench.workers.receiver", str(receiver_port), "ok"],
                     config.workdir, progress_env(receiver_dir))  # fmt: skip
    url = f"http://127.0.0.1:{receiver_port}/hook"

    def contestant(client: str, concurrency: int) -> Callable[[], Awaitable[Measurement]]:
        async def round_() -> Measurement:
            out = config.workdir / f"client-{client}-{concurrency}.json"
            out.unlink(missing_ok=True)
            worker = spawn(f"client-{client}", ["bench.workers.client_load", client, url,
                           str(out), "--concurrency", str(concurrency), "--requests",
                           str(requests)], config.workdir)  # fmt: skip
            await wait_for(lambda: not worker.alive(), within=300, what=f"{client} done")
            if worker.popen.returncode != 0:
                worker.check()
            result: dict[str, float] = json.loads(out.read_text())
            return result

        return round_

    try:
        await asyncio.sleep(0.5)
        contestants = {f"{c} @{n}": contestant(c, n) for n in CONCURRENCY for c in CLIENTS}
        results = await interleave(config.rounds, contestants)
    finally:
        await stop_all([receiver])
    section = Section(10, "clients", "HTTP clients")
    for n in CONCURRENCY:
        subset = {k: v for k, v in results.items() if k.endswith(f"@{n}")}
        section.rows += rows_from(subset, "rate", baseline=f"aiohttp @{n}", label="requests/s")
        section.rows += rows_from(subset, "cpu_us", baseline=f"aiohttp @{n}",
                                  label="CPU µs per request")  # fmt: skip
    cost = section.row("gateway @64", "CPU µs per request")
    section.targets = [
        Target(
            "report: the gateway's CPU per request at concurrency 64 (no numeric target)",
            None,
            "not measured" if cost is None else f"{cost.median:,.0f} µs",
            None if cost is None else cost.median,
            sense="report",
            unit="µs",
        )
    ]
    section.notes.append(
        f"{requests:,} POSTs of ~1 KB per round after {200} warm-up ones, from C tasks on uvloop, "
        "each client in a process of its own; CPU is that process's only"
    )
    return section
