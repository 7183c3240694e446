"""A Dramatiq actor with a no-op body: `python -m bench.workers.dramatiq_worker URL QUEUE`.

One process, 8 worker threads (Dramatiq's default), its default middleware (retries included),
ack after the actor returns. The queue is a quorum queue like eventyard's; the prefetch comes
from `dramatiq_queue_prefetch` in the environment (Dramatiq reads it at import).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from bench.progress import Progress

ACTOR = "bench_noop"
THREADS = 8


class QuorumRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's broker, declaring its queues as quorum queues."""

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = super()._build_queue_arguments(queue_name)
        arguments["x-queue-type"] = "quorum"
        return arguments


def queue_arguments(queue_name: str) -> dict[str, Any]:
    """The arguments Dramatiq declares the queue with (the bench declares it first)."""
    return {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue_name}.XQ",
        "x-queue-type": "quorum",
    }


def main() -> None:
    """Run the worker until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue")
    args = parser.parse_args()
    broker = QuorumRabbitmqBroker(url=args.url)
    dramatiq.set_broker(broker)
    progress = Progress()

    def noop(event: dict[str, Any]) -> None:
        progress.tick()

    dramatiq.actor(actor_name=ACTOR, queue_name=args.queue, max_retries=3)(noop)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = dramatiq.Worker(broker, worker_threads=THREADS)
    worker.start()
    stop.wait()
    worker.stop()
    broker.close()


if __name__ == "__main__":
    main()
