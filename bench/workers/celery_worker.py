"""A Celery task with a no-op body: `python -m bench.workers.celery_worker URL QUEUE POOL N`.

`acks_late` (ack after the task ran, like eventyard), no result backend, no gossip, mingle or
heartbeat; the queue is a quorum queue; `--prefetch` is the total prefetch of the worker
(Celery's multiplier times its concurrency).
"""

from __future__ import annotations

import argparse
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from bench.progress import Progress

TASK = "bench.noop"
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}


def make_app(url: str, queue: str) -> Celery:
    """The Celery app, with the no-op task registered under `TASK`."""
    app = Celery("bench", broker=url)
    app.conf.update(
        task_queues=[
            Queue(queue, Exchange(queue), routing_key=queue, queue_arguments=QUEUE_ARGUMENTS)
        ],
        task_default_queue=queue,
        task_acks_late=True,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
    )
    progress = Progress()

    @app.task(name=TASK)
    def noop(event: dict[str, Any]) -> None:
        progress.tick()

    return app


def main() -> None:
    """Run `celery worker` in this process until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("pool", choices=["solo", "prefork"])
    parser.add_argument("concurrency", type=int)
    parser.add_argument("--prefetch", type=int, default=100)
    args = parser.parse_args()
    app = make_app(args.url, args.queue)
    multiplier = max(1, args.prefetch // args.concurrency)
    app.worker_main(
        [
            "worker",
            "--pool",
            args.pool,
            "--concurrency",
            str(args.concurrency),
            "--queues",
            args.queue,
            "--prefetch-multiplier",
            str(multiplier),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ]
    )


if __name__ == "__main__":
    main()
