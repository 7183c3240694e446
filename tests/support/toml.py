"""Write an integrations file from a dict (tables of scalars and lists; enough for tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _table(prefix: str, table: dict[str, Any], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if prefix:
        lines.append(f"[{prefix}]")
    lines.extend(f"{json.dumps(k)} = {_value(v)}" for k, v in scalars.items())
    for key, sub in table.items():
        if isinstance(sub, dict):
            _table(f"{prefix}.{key}" if prefix else key, sub, lines)


STAND_IN_ANSWERS = {
    "capability": "a local stand-in for tests",
    "dependency": "the test process",
    "on_failure": "the test fails",
    "criticality": "low",
}


def answered(config: dict[str, Any]) -> dict[str, Any]:
    """The config with the four catalogue answers filled in wherever a table lacks them."""
    filled: dict[str, Any] = {
        kind: {name: {**STAND_IN_ANSWERS, **table} for name, table in config[kind].items()}
        for kind in ("sources", "destinations", "integrations", "oauth", "consumers")
        if kind in config
    }
    if "email" in config:
        filled["email"] = {**STAND_IN_ANSWERS, **config["email"]}
    return {**config, **filled}


def write_integrations(path: Path, config: dict[str, Any]) -> Path:
    """Write `config` as TOML to `path`, with stand-in catalogue answers where missing."""
    lines: list[str] = []
    _table("", answered(config), lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
