"""`python -m bench [--quick] [--only 1,3,…]`: run the comparisons, print the table, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from aio_pika.abc import AbstractConnection

from bench.core import BenchConfig, Section, as_json, table, verdicts

Comparison = Callable[[BenchConfig, AbstractConnection], Awaitable[Section]]

NAMES = {
    1: "consume",
    2: "publish",
    3: "intake",
    4: "fanout",
    5: "latency",
    6: "waiting",
    7: "memory",
    8: "scaleout",
    9: "deliver",
    10: "clients",
}
FULL = {
    "rounds": 3,
    "messages": 12_000,
    "fanout_messages": 2_000,
    "http_seconds": 6.0,
    "latency_seconds": 6.0,
    "waiting_messages": 10_000,
    "waiting_seconds": 10.0,
    "memory_messages": 30_000,
    "deliver_seconds": 10.0,
}
QUICK = {
    "rounds": 1,
    "messages": 600,
    "fanout_messages": 200,
    "http_seconds": 1.0,
    "latency_seconds": 0.5,
    "waiting_messages": 200,
    "waiting_seconds": 1.0,
    "memory_messages": 300,
    "deliver_seconds": 3.0,
}


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="eventyard benchmarks: each comparison interleaved (A B A B …) in one run, "
        "on a throwaway vhost of the local RabbitMQ. Prints median, min, max and the ratio to "
        "the baseline, and writes the same as JSON. Absolute numbers drift between runs on "
        "shared machines; read the ratios.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: every ratio in < 2 min, too noisy to judge targets by",
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated comparisons by number or name: "
        + ", ".join(f"{n}={name}" for n, name in NAMES.items()),
    )
    p.add_argument("--rounds", type=int, help="rounds per contestant (full 3, quick 1)")
    p.add_argument("--messages", type=int, help="backlog per consume/publish/fan-out round")
    p.add_argument("--fanout-messages", type=int, help="events per fan-out round (4)")
    p.add_argument("--prefetch", type=int, default=100, help="prefetch of every consumer")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent publishers")
    p.add_argument("--connections", type=int, default=64, help="HTTP connections for intake")
    p.add_argument("--http-seconds", type=float, help="length of each HTTP load round")
    p.add_argument("--latency-seconds", type=float, help="length of each steady-rate round")
    p.add_argument("--latency-rates", default="1000,200", help="steady rates, msg/s")
    p.add_argument("--waiting-messages", type=int, help="messages on the ladder (6)")
    p.add_argument("--waiting-seconds", type=float, help="CPU window while they wait (6)")
    p.add_argument("--memory-messages", type=int, help="messages per memory phase (7)")
    p.add_argument("--deliver-seconds", type=float, help="longest window of a delivery round (9)")
    p.add_argument(
        "--no-peers", action="store_true", help="comparison 1 without Dramatiq and Celery"
    )
    p.add_argument(
        "--memory-without-destination",
        action="store_true",
        help="comparison 7 with no destination configured, so the publisher only idles",
    )
    p.add_argument(
        "--against",
        type=Path,
        help="another source tree (e.g. `git archive` of an older commit): its eventyard step "
        "and intake run as extra contestants in comparisons 1 and 3, for before/after ratios",
    )
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench/results/)")
    p.add_argument("--workdir", type=Path, help="logs and scratch files (default: a temp dir)")
    return p


def selected(only: str) -> list[int]:
    """The comparison numbers `--only` names (all when empty)."""
    if not only.strip():
        return list(NAMES)
    by_name = {name: n for n, name in NAMES.items()}
    picked = []
    for raw in only.split(","):
        item = raw.strip()
        number = int(item) if item.isdigit() else by_name.get(item)
        if number not in NAMES:
            raise SystemExit(f"bench: unknown comparison {item!r}")
        picked.append(number)
    return picked


def config_from(args: argparse.Namespace, workdir: Path) -> BenchConfig:
    """Defaults by mode, overridden by explicit flags."""
    base = QUICK if args.quick else FULL

    def pick(name: str) -> float:
        value = getattr(args, name)
        return base[name] if value is None else value

    return BenchConfig(
        quick=args.quick,
        rounds=int(pick("rounds")),
        messages=int(pick("messages")),
        fanout_messages=int(pick("fanout_messages")),
        prefetch=args.prefetch,
        concurrency=args.concurrency,
        connections=args.connections,
        http_seconds=float(pick("http_seconds")),
        latency_seconds=float(pick("latency_seconds")),
        latency_rates=tuple(int(r) for r in args.latency_rates.split(",") if r.strip()),
        waiting_messages=int(pick("waiting_messages")),
        waiting_seconds=float(pick("waiting_seconds")),
        memory_messages=int(pick("memory_messages")),
        deliver_seconds=float(pick("deliver_seconds")),
        workdir=workdir,
        peers=not args.no_peers,
        memory_publisher=not args.memory_without_destination,
        against=args.against.resolve() if args.against else None,
    )


ENTRY_POINTS = {
    1: ("bench.consume", "consume"),
    2: ("bench.publish", "publish"),
    3: ("bench.intake", "intake"),
    4: ("bench.fanout", "fanout"),
    5: ("bench.latency", "latency"),
    6: ("bench.waiting", "waiting"),
    7: ("bench.memory", "memory"),
    8: ("bench.scaleout", "scale_out"),
    9: ("bench.deliver", "deliver"),
    10: ("bench.clients", "clients"),
}


def comparison(number: int) -> Comparison:
    """A comparison by number (imported only when it runs, so `--help` stays fast)."""
    module, name = ENTRY_POINTS[number]
    found: Comparison = getattr(importlib.import_module(module), name)
    return found


async def run(
    config: BenchConfig, numbers: Sequence[int], save: Callable[[list[Section]], None]
) -> list[Section]:
    """Every selected comparison, each on a vhost of its own; a failing one is reported.

    A vhost per comparison: queues one comparison leaves bound to `events` (a consumer step's
    queue, the publish sink) would otherwise collect a copy of every event the next ones
    publish, and the broker would do that extra work during their measurements.
    `save` gets the sections so far after each comparison, so a run cut short keeps them.
    """
    from bench.infra import connect  # noqa: PLC0415
    from tests.support.broker import throwaway_vhost  # noqa: PLC0415

    sections: list[Section] = []
    for number in numbers:
        started = time.monotonic()
        print(f"bench: {number} {NAMES[number]} …", file=sys.stderr, flush=True)
        with throwaway_vhost("eventyard-bench", background=False) as url:
            own = BenchConfig(**{**config.__dict__, "broker_url": url})
            try:
                async with await connect(url) as connection:
                    section = await comparison(number)(own, connection)
            except Exception as error:
                traceback.print_exc()
                section = Section(number, NAMES[number], NAMES[number].capitalize())
                section.error = f"{type(error).__name__}: {error}"[:500]
        took = time.monotonic() - started
        print(f"bench: {number} {NAMES[number]} done in {took:.0f} s", file=sys.stderr)
        sections.append(section)
        save(sections)
    return sections


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    args = parser().parse_args(argv)
    numbers = selected(args.only)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eventyard-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = config_from(args, workdir)
    out = args.json or Path("bench/results") / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])

    def save(sections: list[Section]) -> None:
        meta = {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 1),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "command": command.strip(),
        }
        out.write_text(json.dumps(as_json(config, sections, meta), indent=2) + "\n")

    sections = asyncio.run(run(config, numbers, save))
    print(table(sections))
    print()
    if config.quick:
        print("quick mode: sizes too small to judge the targets; a smoke check only\n")
    print(verdicts(sections))
    print(f"\nJSON: {out}   logs: {workdir}   ({time.monotonic() - started:.0f} s)")
