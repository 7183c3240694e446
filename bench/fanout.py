"""Comparison 4: deliveries per second to a healthy destination while another one hangs.

The publisher service runs with two destinations subscribed to `order.created.v1`: `good`, whose
receiver answers 200 at once, and `other`, whose receiver either also answers (both healthy) or
accepts the connection and never answers (hanging; the publisher's timeout and retry ladder deal
with it). Each round pre-fills the same backlog of events and times `good`'s receiver from its
first to its last delivery.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aio_pika.abc import AbstractConnection

from bench import progress
from bench.core import (
    BenchConfig,
    Measurement,
    Section,
    interleave,
    ratio_target,
    rows_from,
)
from bench.infra import (
    OrderEvents,
    eventyard_env,
    fill,
    port,
    progress_env,
    purge,
    spawn,
    stop_all,
    until_count,
    wait_ready,
)
from services.yard import build_topology
from shared.config import IntegrationsFile
from shared.settings import RetrySettings, Settings
from shared.topology import EVENTS_EXCHANGE, PARKED_SUFFIX, declare
from tests.support.toml import write_integrations

SECRET = "whsec_" + base64.b64encode(b"bench-destination-secret-0123").decode()
SECRET_ENV = "BENCH_DEST_SECRET"
DELAYS = [5.0, 30.0, 120.0]
CONCURRENCY = 50
TIMEOUT_SECONDS = 2
ATTEMPTS = 3


class PublisherCrashedError(Exception):
    """The publisher process exited during a round."""


def _last_error(log: Path) -> str:
    """The last line of a log that names an exception (for the note), shortened."""
    lines = [x for x in log.read_text(errors="replace").splitlines() if "Error" in x]
    return lines[-1].strip()[-200:] if lines else "no error in its log"


def destination(url: str) -> dict[str, Any]:
    """A destination table: fast, signed, allowed on loopback, no rate limit in the way."""
    return {
        "url": url,
        "events": ["order.created.v1"],
        "secrets": [SECRET_ENV],
        "allow_private_network": True,
        "concurrency": CONCURRENCY,
        "rate_limit_per_second": 100_000,
        "timeout_seconds": TIMEOUT_SECONDS,
    }


def integrations_file(path: Path, good: int, other: int) -> IntegrationsFile:
    """Write the integrations file for two destinations; the parsed file."""
    config = {
        "destinations": {
            "good": destination(f"http://127.0.0.1:{good}/hook"),
            "other": destination(f"http://127.0.0.1:{other}/hook"),
        }
    }
    write_integrations(path, config)
    return IntegrationsFile.model_validate(config)


def queues(integrations: IntegrationsFile, settings: Settings) -> list[str]:
    """Every queue a round leaves messages in."""
    topology = build_topology(settings, integrations)
    names = [q.name for q in topology.queues]
    return [*names, *(n + PARKED_SUFFIX for n in names), *topology.ladder]


async def fanout(config: BenchConfig, connection: AbstractConnection) -> Section:
    """Interleaved rounds: both healthy, then `other` hanging."""
    events = OrderEvents()
    settings = Settings(broker_url=config.broker_url, retry=RetrySettings(delays=DELAYS))
    count = config.fanout_messages

    crashes: list[str] = []

    def scenario(hang: bool) -> Callable[[], Awaitable[Measurement]]:
        async def round_() -> Measurement:
            for _ in range(ATTEMPTS):
                try:
                    return await attempt(hang)
                except PublisherCrashedError as crash:
                    crashes.append(str(crash))
            raise RuntimeError(f"the publisher crashed in {ATTEMPTS} attempts: {crashes[-1]}")

        return round_

    async def attempt(hang: bool) -> Measurement:
        good_dir = config.workdir / "fanout-good"
        progress.reset(good_dir)
        good_port, other_port, http = port(), port(), port()
        toml = config.workdir / f"fanout-{'hang' if hang else 'healthy'}.toml"
        integrations = integrations_file(toml, good_port, other_port)
        async with connection.channel() as channel:
            await declare(channel, build_topology(settings, integrations))
        await fill(
            connection,
            "order.created.v1",
            lambda _: events.message(),
            count,
            exchange=EVENTS_EXCHANGE,
        )
        receivers = [
            spawn("receiver-good", ["bench.workers.receiver", str(good_port), "ok"],
                  config.workdir, progress_env(good_dir)),
            spawn("receiver-other", ["bench.workers.receiver", str(other_port),
                                     "hang" if hang else "ok"],
                  config.workdir, progress_env(config.workdir / "fanout-other")),
        ]  # fmt: skip
        env = eventyard_env(
            config.broker_url,
            EVENTYARD_CONFIG=str(toml),
            EVENTYARD_RETRY__DELAYS=str(DELAYS),
            EVENTYARD_GRACEFUL_TIMEOUT_SECONDS="1",
            **{SECRET_ENV: SECRET},
        )
        publisher = spawn("publisher", ["cli.main", "run", "publisher", "--port", str(http)],
                          config.workdir, env)  # fmt: skip
        procs = [*receivers, publisher]
        try:
            await wait_ready(f"http://127.0.0.1:{http}", procs)
            totals = await until_count(good_dir, count, procs, within=60 + count / 50)
        except RuntimeError as error:
            if publisher.alive():
                raise
            raise PublisherCrashedError(_last_error(publisher.log)) from error
        finally:
            await stop_all(procs)
            await purge(connection, *queues(integrations, settings))
        return {"rate": totals.rate}

    results = await interleave(
        config.rounds,
        {"both healthy": scenario(hang=False), "other hanging": scenario(hang=True)},
    )
    section = Section(4, "fanout", "Fan-out isolation")
    section.rows = rows_from(results, "rate", baseline="both healthy", label="deliveries/s to good")
    ratio = section.ratio_of("other hanging", "both healthy", "deliveries/s to good")
    section.targets = [
        ratio_target("healthy destination keeps >= 90% of its rate while another hangs", ratio, 0.9)
    ]
    if crashes:
        section.notes.append(
            f"the publisher crashed {len(crashes)} time(s) while starting on the backlog and "
            f"the round was run again; last: {crashes[-1]}"
        )
    section.notes.append(
        f"{count:,} events pre-filled per round, fanned out to two destinations (concurrency "
        f"{CONCURRENCY} each, signed POSTs to local receivers); the hanging one never answers, "
        f"so each of its calls times out after {TIMEOUT_SECONDS} s and climbs the ladder"
    )
    return section
