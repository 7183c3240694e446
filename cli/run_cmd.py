"""`eventyard run SERVICE|all`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import typer

from cli.common import EXIT_BAD_INPUT, EXIT_FAILED, fail, load, run
from services.yard import SERVICES, ports
from shared.errors import ConfigError
from shared.logs import configure_logging
from shared.service import run_service

STOP_GRACE_SECONDS = 40.0


def run_command(
    service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}, or all."),
    port: int | None = typer.Option(None, help="HTTP port (default: the service's own)."),
    base_port: int | None = typer.Option(
        None, help="With `all`: ports base, base+1, … instead of 8000-8004."
    ),
) -> None:
    """Start one service, or all five as separate processes that stop together."""
    if service == "all":
        if port is not None:
            fail("--port applies to one service; use --base-port with `all`", EXIT_BAD_INPUT)
        raise typer.Exit(run_all(base_port))
    definition = SERVICES.get(service)
    if definition is None:
        fail(
            f"unknown service {service!r}; choose one of {', '.join(SERVICES)} or all",
            EXIT_BAD_INPUT,
        )
    settings, integrations, topology = load()
    port = port or definition.default_port
    check_port(definition.name, settings.http_host, port)
    configure_logging(definition.name, settings.log_level)
    try:
        run(run_service(definition, settings, integrations, topology, port=port))
    except ConfigError as error:  # e.g. a secret the integrations file names is not set
        fail(f"{definition.name}: {error}", EXIT_BAD_INPUT)


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
    children = {}
    for name, port in ports(base_port).items():
        # -P: the current directory stays off sys.path, so a `cli/` of the user's own
        # (many projects have one) cannot stand in for ours in the children.
        command = [sys.executable, "-P", "-m", "cli.main", "run", name, "--port", str(port)]
        children[name] = subprocess.Popen(command)  # noqa: S603
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
