"""`eventyard publish TYPE.vN FILE|-`: the publish API from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import typer
from pydantic import ValidationError

from cli.common import EXIT_BAD_INPUT, fail, load, open_connection, run
from contracts.base import Contract
from contracts.registry import UnknownContractError, lookup_key
from shared.broker import publish_channel
from shared.decoding import explain
from shared.errors import UnroutableError
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter


def publish(
    key: str = typer.Argument(..., metavar="TYPE.vN", help="For example order.created.v1."),
    source: str = typer.Argument(..., metavar="FILE|-", help="The JSON payload, or - for stdin."),
    subject: str | None = typer.Option(None, help="CloudEvents subject."),
    correlation_id: str | None = typer.Option(None, help="Defaults to the event id."),
    event_id: str | None = typer.Option(None, "--id", help="Defaults to a fresh uuid."),
) -> None:
    """Validate a payload against its contract and publish it; exit 0 once confirmed."""
    settings, _, _ = load()
    data = parse_payload(key, read_source(source))

    async def go() -> str:
        connection = await open_connection(settings, "eventyard-cli-publish")
        async with connection:
            confirmer = Confirmer(
                await publish_channel(connection), timeout=settings.publish_timeout_seconds
            )
            emitter = Emitter(confirmer, source="eventyard/cli", metrics=Metrics("cli"))
            try:
                event = await emitter.publish(
                    data, subject=subject, correlation_id=correlation_id, event_id=event_id
                )
            except UnroutableError:
                fail(f"no queue is bound for {key}; nothing was stored (run `topology apply`?)")
            return event.id

    typer.echo(run(go()))


def read_source(source: str) -> bytes:
    """The bytes of FILE, or of stdin for `-`."""
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.is_file():
        fail(f"{source}: no such file", EXIT_BAD_INPUT)
    return path.read_bytes()


def parse_payload(key: str, raw: bytes) -> Contract:
    """The validated contract payload, or exit 2 naming what is wrong."""
    try:
        contract = lookup_key(key)
    except (ValueError, UnknownContractError) as error:
        fail(str(error), EXIT_BAD_INPUT)
    try:
        payload: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        fail(f"the payload is not valid JSON: {error}", EXIT_BAD_INPUT)
    if isinstance(payload, dict) and "specversion" in payload:
        fail("give the event's data, not a whole CloudEvent", EXIT_BAD_INPUT)
    try:
        return contract.model_validate(payload)
    except ValidationError as error:
        fail(f"invalid {key}: {explain(error, limit=None)}", EXIT_BAD_INPUT)
