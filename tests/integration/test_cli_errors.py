"""No command prints a traceback for what a user can cause: a stopped broker, a foreign vhost.

A command that needs the broker and cannot have it says why in one line on stderr, starting
`eventyard:`, and exits 1 (or 2 for bad input). `run` waits for a stopped broker by design.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from aio_pika import ExchangeType
from pydantic import SecretStr

from services.publisher.switches import marker_queue
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, ladder_name
from tests.support.cli import environment, eventyard
from tests.support.events import sample_order
from tests.support.services import free_port, free_port_block
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

STOPPED_BROKER = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1
PARTNER_SECRET = "CLI_ERRORS_PARTNER_SECRET"
CONFIG = {
    "destinations": {
        "partner": {
            "url": "http://127.0.0.1:9/hooks",
            "events": ["order.*.v1"],
            "secrets": [PARTNER_SECRET],
            "allow_private_network": True,
        }
    }
}
# Every command; {payload}, {tmp} and {port} (nothing answers there) are filled in per test.
COMMANDS: dict[str, tuple[str, ...]] = {
    "publish": ("publish", "order.created.v1", "{payload}"),
    "integrations": ("integrations", "--health-url", "http://127.0.0.1:{port}"),
    "docs": ("docs", "--out", "{tmp}/asyncapi.json"),
    "status": ("status", "--once", "--base-port", "{port}"),
    "demo": ("demo", "--base-port", "{port}"),
    "demo --no-start": ("demo", "--no-start", "--base-port", "{port}"),
    "topology apply": ("topology", "apply"),
    "topology show": ("topology", "show"),
    "contracts list": ("contracts", "list"),
    "contracts export": ("contracts", "export", "--dir", "{tmp}/schemas"),
    "contracts check": ("contracts", "check"),
    "parked list": ("parked", "list"),
    "parked show": ("parked", "show", "order-followup.crm"),
    "parked replay": ("parked", "replay", "order-followup.crm"),
    "parked purge": ("parked", "purge", "order-followup.crm", "--yes"),
    "destinations": ("destinations", "--publisher-url", "http://127.0.0.1:{port}"),
    "destinations enable": ("destinations", "enable", "partner"),
    "destinations disable": ("destinations", "disable", "partner"),
}
NO_BROKER = {"integrations", "docs", "contracts list", "contracts export", "contracts check"}
SITUATIONS = ("stopped broker", "empty vhost", "foreign vhost")
# What must fail where, beyond every command that needs the broker when it is stopped.
MUST_FAIL = {
    "empty vhost": {"publish", "demo --no-start", "parked show", "parked replay", "parked purge"},
    "foreign vhost": {
        "publish",
        "demo",
        "demo --no-start",
        "topology apply",
        "parked replay",
        "destinations",
        "destinations enable",
        "destinations disable",
    },
}
CASES = [
    pytest.param(command, situation, id=f"{command} | {situation}")
    for command in COMMANDS
    for situation in SITUATIONS
    # In an empty vhost the demo starts the services and succeeds: tests/e2e/test_demo.py.
    if (command, situation) != ("demo", "empty vhost")
]


@dataclass(frozen=True)
class Place:
    """Where the commands run: settings for the broker in that situation."""

    situation: str
    settings: Settings


async def make_foreign(url: str, delays: list[float]) -> None:
    """Declare, as another application would, names the yard uses, with other arguments."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.FANOUT, durable=True)
        await channel.declare_exchange(ladder_name(delays[0]), ExchangeType.DIRECT, durable=True)
        for classic in ("email.send", marker_queue("partner")):
            await channel.declare_queue(classic, durable=True)  # classic, not quorum
        parked = await channel.declare_queue("order-followup.crm.parked", durable=True)
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=parked.name)


@pytest.fixture
async def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """The situation named by the parameter, with an integrations file naming a destination."""
    situation: str = request.param
    if situation == "stopped broker":
        settings = Settings(broker_url=STOPPED_BROKER, config=tmp_path / "eventyard.toml")
    else:
        settings = request.getfixturevalue("settings")
    if situation == "foreign vhost":
        await make_foreign(settings.broker_url.get_secret_value(), settings.retry.delays)
    write_integrations(settings.config, CONFIG)
    return Place(situation, settings)


def filled(args: tuple[str, ...], tmp_path: Path) -> list[str]:
    """The command's arguments with a valid payload file, a scratch folder and idle ports."""
    payload = tmp_path / "order.json"
    payload.write_text(sample_order("ord_cli_errors").model_dump_json())
    port = free_port_block(5)
    return [a.format(payload=payload, tmp=tmp_path, port=port) for a in args]


def must_fail(command: str, situation: str) -> bool:
    """Whether the command cannot succeed in that situation."""
    if situation == "stopped broker":
        return command not in NO_BROKER
    return command in MUST_FAIL.get(situation, set())


@pytest.mark.parametrize(("command", "place"), CASES, indirect=["place"])
async def test_no_command_prints_a_traceback_and_failures_are_one_line(
    command: str, place: Place, tmp_path: Path
) -> None:
    # Given a broker that is stopped, or a vhost that is empty or holds another's declarations
    args = filled(COMMANDS[command], tmp_path)

    # When the command runs there
    result = await asyncio.to_thread(eventyard, place.settings, *args)

    # Then it never shows a traceback
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    if must_fail(command, place.situation):
        assert result.returncode != 0, result.stdout
    # And a failure is one line on stderr saying why, with exit 1 or 2
    if result.returncode != 0:
        assert result.returncode in (1, 2), result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("eventyard: "), line


async def test_a_foreign_declaration_is_named_in_the_refusal(settings: Settings) -> None:
    await make_foreign(settings.broker_url.get_secret_value(), settings.retry.delays)
    write_integrations(settings.config, CONFIG)

    result = await asyncio.to_thread(eventyard, settings, "topology", "apply")

    assert result.returncode == 1
    assert result.stderr.startswith("eventyard: the broker refused: PRECONDITION_FAILED")
    assert "give the yard a vhost of its own" in result.stderr


def start_run(settings: Settings, service: str, log: Path) -> subprocess.Popen[bytes]:
    """`eventyard run SERVICE` (or `all`) on free ports, its output into `log`."""
    if service == "all":
        ports = ["--base-port", str(free_port_block(5))]
    else:
        ports = ["--port", str(free_port())]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "cli.main", "run", service, *ports],
            env=environment(settings, **{PARTNER_SECRET: "whsec_dGVzdC1wYXJ0bmVyLXNlY3JldA=="}),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def wait_for(process: subprocess.Popen[bytes], timeout: float) -> int:
    """The exit code, within `timeout` seconds; the process is killed if still running."""
    try:
        return await asyncio.to_thread(process.wait, timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("service", ["intake", "all"])
@pytest.mark.parametrize("place", ["stopped broker", "foreign vhost"], indirect=True)
async def test_run_waits_for_a_stopped_broker_and_refuses_a_foreign_vhost_in_one_line(
    service: str, place: Place, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    process = start_run(place.settings, service, log)
    if place.situation == "stopped broker":
        # It waits for the broker (by design), saying so, until SIGTERM stops it cleanly
        await eventually(lambda: "broker unreachable; retrying" in log.read_text(), timeout=30)
        process.send_signal(signal.SIGTERM)
        assert await wait_for(process, 45) == 0, log.read_text()[-3000:]
    else:
        # It stops at the first declaration the broker refuses, and says which
        assert await wait_for(process, 60) == 1, log.read_text()[-3000:]
        refusals = [
            line
            for line in log.read_text().splitlines()
            if line.startswith("eventyard: ") and "the broker refused: PRECONDITION_FAILED" in line
        ]
        assert refusals, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


async def test_run_on_a_port_in_use_says_so_in_one_line(settings: Settings) -> None:
    # Given something already listening on the service's port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When the service is started on it
        result = await asyncio.to_thread(eventyard, settings, "run", "intake", "--port", str(port))

    # Then it exits 1 with one line naming the port, before any log line or traceback
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"eventyard: intake: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


async def test_a_wrong_password_is_named_as_such(settings: Settings) -> None:
    url = settings.broker_url.get_secret_value().replace("guest:guest@", "guest:wrong@")
    wrong = settings.model_copy(update={"broker_url": SecretStr(url)})

    result = await asyncio.to_thread(eventyard, wrong, "topology", "show")

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("eventyard: the broker at amqp://guest:***@")
    assert "refused the login" in line
