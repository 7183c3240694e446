"""Export contract JSON Schemas and detect drift from the committed files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from contracts.base import Contract
from contracts.registry import CONTRACTS

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_of(contract: type[Contract]) -> dict[str, Any]:
    """The JSON Schema of a contract, with `$id` equal to its events' `dataschema`."""
    schema = contract.model_json_schema()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": contract.dataschema(),
        "x-eventyard-type": contract.TYPE,
        "x-eventyard-version": contract.VERSION,
        **schema,
    }


def render(contract: type[Contract]) -> bytes:
    """The exact bytes committed for a contract's schema file."""
    return orjson.dumps(schema_of(contract), option=orjson.OPT_INDENT_2) + b"\n"


def file_name(contract: type[Contract]) -> str:
    """`<type>.v<N>.json`."""
    return f"{contract.key()}.json"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every contract's schema; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in CONTRACTS:
        path = directory / file_name(contract)
        path.write_bytes(render(contract))
        written.append(path)
    return written


@dataclass(frozen=True)
class Drift:
    """A committed schema file that does not match its model."""

    file: str
    problem: str


def check(directory: Path = SCHEMA_DIR) -> list[Drift]:
    """Every difference between the committed schema files and the models."""
    drifts = []
    expected = {file_name(c): render(c) for c in CONTRACTS}
    for name, content in expected.items():
        path = directory / name
        if not path.exists():
            drifts.append(Drift(name, "missing; run `eventyard contracts export`"))
        elif path.read_bytes() != content:
            drifts.append(Drift(name, "differs from its model; a published version never changes"))
    drifts.extend(
        Drift(path.name, "no contract has this schema")
        for path in sorted(directory.glob("*.json"))
        if path.name not in expected
    )
    return drifts
