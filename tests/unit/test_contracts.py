"""Contracts: examples validate, the registry resolves, committed schemas match."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.base import Contract
from contracts.export import check, export, schema_of
from contracts.registry import (
    CONTRACTS,
    UnknownContractError,
    envelope_model,
    lookup,
    lookup_key,
    parse_key,
)
from contracts.webhooks import WebhookReceivedV1


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.key())
def test_every_example_validates_and_lands_in_the_schema(contract: type[Contract]) -> None:
    schema = schema_of(contract)
    assert schema["examples"], f"{contract.key()} has no example"
    for example in schema["examples"]:
        contract.model_validate(example)
    assert schema["$id"] == contract.dataschema()
    assert schema["$id"].endswith(f"/{contract.key()}.json")


def test_required_contracts_are_registered() -> None:
    keys = {c.key() for c in CONTRACTS}
    assert {
        "order.created.v1",
        "email.requested.v1",
        "email.sent.v1",
        "email.failed.v1",
        "delivery.succeeded.v1",
        "delivery.failed.v1",
        "integration.health.changed.v1",
        "webhook.received.v1",
    } <= keys


def test_registry_resolves_families_and_refuses_unknowns() -> None:
    assert lookup("webhook.received.shop", 1) is WebhookReceivedV1
    assert lookup_key("order.created.v1").key() == "order.created.v1"
    with pytest.raises(UnknownContractError):
        lookup("order.created", 2)
    with pytest.raises(UnknownContractError):
        lookup("order.created.extra", 1)  # order.created is not a family
    with pytest.raises(ValueError, match=r"TYPE\.vN"):
        parse_key("order.created")
    assert parse_key("integration.health.changed.v12") == ("integration.health.changed", 12)


def test_envelope_model_is_built_once() -> None:
    contract = CONTRACTS[0]
    assert envelope_model(contract) is envelope_model(contract)


def test_contracts_are_frozen_and_strict() -> None:
    contract = lookup_key("email.requested.v1")
    with pytest.raises(ValueError, match="extra"):
        contract.model_validate({"to": "a@b.io", "subject": "s", "body": "b", "cc": "x"})
    with pytest.raises(ValueError, match="either a template"):
        contract.model_validate({"to": "a@b.io", "subject": "only a subject"})


def test_check_finds_drift_missing_and_stale_files(tmp_path: Path) -> None:
    export(tmp_path)
    assert check(tmp_path) == []
    first = sorted(tmp_path.glob("*.json"))[0]
    first.write_text(first.read_text().replace('"title"', '"titel"', 1))
    (tmp_path / "order.teleported.v1.json").write_text("{}")
    sorted(tmp_path.glob("email.sent.v1.json"))[0].unlink()
    problems = {d.file: d.problem for d in check(tmp_path)}
    assert "differs" in problems[first.name]
    assert "no contract" in problems["order.teleported.v1.json"]
    assert "missing" in problems["email.sent.v1.json"]


def test_contracts_check_command_passes_on_the_committed_schemas() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "contracts", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_contracts_check_command_fails_on_drift(tmp_path: Path) -> None:
    export(tmp_path)
    next(tmp_path.glob("order.created.v1.json")).write_text("{}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "contracts", "check", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "order.created.v1.json: differs from its model" in result.stderr
