"""`eventyard run SERVICE|all`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import typer

from cli.common import EXIT_BAD_INPUT, EXIT_FAILED, fail, load, run
from services import NAMES
from shared.errors import ConfigError
from shared.logs import configure_logging
from shared.settings import Settings

STOP_GRACE_SECONDS = 40.0
METRICS_URLS_ENV = "EVENTYARD_HEALTH__METRICS_URLS"
MAX_WORKERS = 64
# -P: the current directory stays off sys.path, so a `cli/` of the user's own (many projects
# have one) cannot stand in for ours in the children.
CHILD = [sys.executable, "-P", "-m", "cli.main"]


def run_command(
    service: str = typer.Argument(..., help=f"One of: {', '.join(NAMES)}, or all."),
    port: int | None = typer.Option(None, help="HTTP port (default: the service's own)."),
    base_port: int | None = typer.Option(
        None, help="With `all`: ports base, base+1, … instead of 8000-8004."
    ),
    workers: int = typer.Option(
        1,
        min=1,
        max=MAX_WORKERS,
        help="Processes of this service sharing its port (SO_REUSEPORT) and its queues.",
    ),
    shared_port: bool = typer.Option(False, "--shared-port", hidden=True),
) -> None:
    """Start one service (in --workers processes), or all five as processes that stop together."""
    if service == "all":
        if port is not None or workers != 1:
            fail("--port and --workers apply to one service; use --base-port with `all`",
                 EXIT_BAD_INPUT)  # fmt: skip
        raise typer.Exit(run_all(base_port))
    # Imported here, as in cli.common.load(): every service comes with them.
    from services.yard import SERVICES  # noqa: PLC0415
    from shared.service import run_service  # noqa: PLC0415

    definition = SERVICES.get(service)
    if definition is None:
        fail(
            f"unknown service {service!r}; choose one of {', '.join(SERVICES)} or all",
            EXIT_BAD_INPUT,
        )
    settings, integrations, topology = load()
    port = port or definition.default_port
    if workers > 1:
        problem = workers_problem(definition.name, settings)
        if problem is not None:
            fail(problem, EXIT_BAD_INPUT)
        check_port(definition.name, settings.http_host, port)
        raise typer.Exit(run_workers(definition.name, port, workers, settings.replicas))
    if not shared_port:  # a worker's siblings hold the port already; its parent checked it
        check_port(definition.name, settings.http_host, port)
    configure_logging(definition.name, settings.log_level)
    try:
        run(
            run_service(
                definition, settings, integrations, topology, port=port, shared_port=shared_port
            )
        )
    except ConfigError as error:  # e.g. a secret the integrations file names is not set
        fail(f"{definition.name}: {error}", EXIT_BAD_INPUT)


def workers_problem(service: str, settings: Settings) -> str | None:
    """Why this service cannot run in several processes as configured, if it cannot."""
    if service == "intake" and settings.dedupe.url is None:
        return (
            "intake: --workers needs a shared dedupe store: set EVENTYARD_DEDUPE__URL "
            "(redis://host:6379/0); each worker's own window would let a repeated webhook "
            "through twice"
        )
    return None


def run_workers(service: str, port: int, workers: int, replicas: int) -> int:
    """Supervise `workers` processes of one service on one port, limits shared out among them."""
    command = [*CHILD, "run", service, "--port", str(port), "--shared-port"]
    env = {**os.environ, "EVENTYARD_REPLICAS": str(replicas * workers)}
    children = {
        f"{service} worker {n + 1}": subprocess.Popen(command, env=env)  # noqa: S603
        for n in range(workers)
    }
    return supervise(children)


def check_port(service: str, host: str, port: int) -> None:
    """Exit 1 in one line when the service could not listen on `host:port` (taken, say)."""
    # Found by the HTTP server only mid-start, it would end the process from inside the event
    # loop, logging a traceback. Bound as asyncio binds: every address, SO_REUSEADDR.
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as error:
        fail(f"{service}: cannot listen on {host}:{port}: {error.strerror or error}")


def run_all(base_port: int | None) -> int:
    """Supervise one process per service; when one exits or a signal comes, stop them all."""
    load()  # fail fast on a bad integrations file, before starting five processes
    from services.yard import ports  # noqa: PLC0415 - see run_command

    placed = ports(base_port)
    env = dict(os.environ)
    # health reads the others' /metrics (which cached queries run stale): wherever they are.
    env.setdefault(
        METRICS_URLS_ENV,
        json.dumps([f"http://127.0.0.1:{p}" for name, p in placed.items() if name != "health"]),
    )
    children = {
        name: subprocess.Popen([*CHILD, "run", name, "--port", str(port)], env=env)  # noqa: S603
        for name, port in placed.items()
    }
    return supervise(children)


def supervise(children: dict[str, subprocess.Popen[bytes]]) -> int:
    """Wait until a child exits or a signal comes; then stop them all (SIGTERM, then kill)."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed: list[str] = []
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                failed.append(f"{name} exited with {child.returncode}")
                stopping = True
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for reason in failed:
        typer.echo(f"eventyard: {reason}", err=True)
    return EXIT_FAILED if failed else 0
