"""Profile a hot path under load: `python -m bench.profile consume|kit|intake|publisher` (py-spy).

`consume` fills a backlog, starts the eventyard step with a no-op handler (`bench.workers.step`)
and attaches py-spy once the first message is handled; `kit` does the same for the FastStream
kit's subscriber (`bench.workers.faststream_kit`). `intake` starts the intake service and
attaches py-spy while wrk (or the asyncio client) sends signed webhooks at its peak. `publisher`
fills `events` with a backlog for one destination whose receiver answers 200 at once, and
attaches py-spy to the publisher once the first delivery arrives. Either way
it prints where the samples fell: by package, and the functions with the most inclusive and self
time. The raw py-spy output stays in the work dir.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import progress
from bench.cli import config_from, parser
from bench.consume import DELIVERY_LIMIT, QUEUE
from bench.core import BenchConfig
from bench.fanout import SECRET as DEST_SECRET
from bench.fanout import SECRET_ENV as DEST_SECRET_ENV
from bench.fanout import destination
from bench.http_load import SignedBatch, peak
from bench.infra import (
    OrderEvents,
    Proc,
    connect,
    declare,
    eventyard_env,
    fill,
    port,
    progress_env,
    purge,
    spawn,
    stop_all,
    until_count,
)
from bench.intake import SECRET, start_intake, webhook_body
from bench.publish import prepare
from services.yard import build_topology
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, WorkQueue, work_queue_arguments
from shared.topology import declare as declare_topology
from tests.support.broker import throwaway_vhost
from tests.support.toml import write_integrations

PACKAGES = (
    "shared",
    "contracts",
    "bench",
    "aio_pika",
    "aiormq",
    "pamqp",
    "pydantic",
    "prometheus_client",
    "asyncio",
    "logging",
    "starlette",
    "uvicorn",
    "h11",
    "httpx",
    "httpcore",
    "anyio",
    "services",
    "orjson",
    "cachetools",
)


def package_of(frame: str) -> str:
    """The package a py-spy frame (`function (path)`) belongs to."""
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    for name in PACKAGES:
        if path.startswith((f"{name}/", f"{name}.")) or f"/{name}/" in path:
            return name
    return "other"


def summarise(raw: Path, top: int = 25) -> str:
    """Samples by package (self time) and the top functions by inclusive and by self time."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        packages[package_of(frames[-1])] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common()]
    lines += ["", "inclusive time (eventyard frames):"]
    ours = [
        (f, n)
        for f, n in inclusive.most_common()
        if package_of(f) in ("shared", "contracts", "services")
    ]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ours[:top]]
    lines += ["", "self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def py_spy(pid: int, rate: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` into `out` until SIGINT."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [pyspy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--nolineno", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def finish(spy: subprocess.Popen[bytes]) -> None:
    """Stop py-spy and let it write its output."""
    spy.send_signal(signal.SIGINT)
    await asyncio.to_thread(spy.wait, 30)


async def profiled_until(
    directory: Path, messages: int, procs: list[Proc], profiled: Proc, rate: int, out: Path
) -> progress.Totals:
    """Record `profiled` from the first reported message to the last; stop `procs` after."""
    try:
        await until_count(directory, 1, procs, within=60)
        spy = py_spy(profiled.pid, rate, out)
        totals = await until_count(directory, messages, procs, within=600)
        await finish(spy)
    finally:
        await stop_all(procs)
    return totals


async def profile_consume(
    messages: int, workdir: Path, rate: int, worker: str = "bench.workers.step"
) -> Path:
    """Run the consumer `worker` under py-spy over `messages` messages; the raw profile's path."""
    out = workdir / f"{worker.rsplit('.', 1)[-1]}.pyspy.txt"
    directory = workdir / "progress"
    progress.reset(directory)
    with throwaway_vhost("eventyard-bench", background=False) as url:
        connection = await connect(url)
        async with connection:
            events = OrderEvents()
            await declare(connection, QUEUE, work_queue_arguments(WorkQueue(QUEUE), DELIVERY_LIMIT))
            await purge(connection, QUEUE)
            await fill(connection, QUEUE, lambda _: events.message(), messages)
            env = {
                **progress_env(directory),
                "EVENTYARD_BROKER_URL": url,
                "EVENTYARD_RETRY__DELIVERY_LIMIT": str(DELIVERY_LIMIT),
            }
            step = spawn("profiled-step", [worker, QUEUE], workdir, env)
            totals = await profiled_until(directory, messages, [step], step, rate, out)
            print(f"consumed {totals.count} messages at {totals.rate:,.0f} msg/s under py-spy")
    return out


async def profile_intake(seconds: float, workdir: Path, rate: int) -> Path:
    """Run intake under py-spy while it takes signed webhooks at its peak."""
    out = workdir / "intake.pyspy.txt"
    with throwaway_vhost("eventyard-bench", background=False) as url:
        connection = await connect(url)
        async with connection:
            config = config_from(parser().parse_args(["--quick"]), workdir)
            config = BenchConfig(**{**config.__dict__, "broker_url": url})
            events = OrderEvents()
            await prepare(connection, events.key)
            service, intake_url = await start_intake(config)
            try:
                batch = SignedBatch(SECRET, webhook_body(events), int(seconds * 8000) + 1000)
                spy = py_spy(service.pid, rate, out)
                result = await peak(
                    intake_url, batch, seconds=seconds, connections=64, workdir=workdir
                )
                await finish(spy)
            finally:
                await stop_all([service])
            print(f"intake accepted {result.rate:,.0f}/s under py-spy, p99 {result.p99_ms} ms")
    return out


async def profile_publisher(messages: int, workdir: Path, rate: int) -> Path:
    """Run the publisher under py-spy while it fans out and delivers a backlog to one receiver."""
    out = workdir / "publisher.pyspy.txt"
    directory = workdir / "progress"
    progress.reset(directory)
    with throwaway_vhost("eventyard-bench", background=False) as url:
        connection = await connect(url)
        async with connection:
            receiver_port, http = port(), port()
            toml = workdir / "publisher.toml"
            config = {"destinations": {"good": destination(f"http://127.0.0.1:{receiver_port}/")}}
            write_integrations(toml, config)
            settings = Settings(broker_url=url)
            async with connection.channel() as channel:
                topology = build_topology(settings, IntegrationsFile.model_validate(config))
                await declare_topology(channel, topology)
            events = OrderEvents()
            await fill(connection, "order.created.v1", lambda _: events.message(), messages,
                       exchange=EVENTS_EXCHANGE)  # fmt: skip
            env = eventyard_env(url, EVENTYARD_CONFIG=str(toml), **{DEST_SECRET_ENV: DEST_SECRET})
            procs = [
                spawn("receiver", ["bench.workers.receiver", str(receiver_port), "ok"], workdir,
                      progress_env(directory)),
                spawn("profiled-publisher", ["cli.main", "run", "publisher", "--port", str(http)],
                      workdir, env),
            ]  # fmt: skip
            totals = await profiled_until(directory, messages, procs, procs[1], rate, out)
            print(f"delivered {totals.count} webhooks at {totals.rate:,.0f}/s under py-spy")
    return out


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("target", choices=["consume", "kit", "intake", "publisher"])
    parser.add_argument("--messages", type=int, default=30_000, help="consume/publisher: backlog")
    parser.add_argument("--seconds", type=float, default=8, help="intake: load duration")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eventyard-profile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.target == "consume":
        raw = asyncio.run(profile_consume(args.messages, workdir, args.rate))
    elif args.target == "kit":
        kit = "bench.workers.faststream_kit"
        raw = asyncio.run(profile_consume(args.messages, workdir, args.rate, kit))
    elif args.target == "publisher":
        raw = asyncio.run(profile_publisher(args.messages, workdir, args.rate))
    else:
        raw = asyncio.run(profile_intake(args.seconds, workdir, args.rate))
    print(summarise(raw))
    print(f"\nraw profile: {raw}")


if __name__ == "__main__":
    main()
