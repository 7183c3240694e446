"""`eventyard docs` writes one AsyncAPI document that the official parser accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from contracts.registry import CONTRACTS
from tests.support.tools import needs_tool

ROOT = Path(__file__).parents[2]
VALIDATOR = ROOT / "tools/asyncapi"


def write_docs(out: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "docs", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "EVENTYARD_CONFIG": str(ROOT / "eventyard.example.toml")},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = orjson.loads(out.read_bytes())
    return loaded


def test_document_covers_every_contract_and_service(tmp_path: Path) -> None:
    doc = write_docs(tmp_path / "asyncapi.json")
    messages = doc["components"]["messages"]  # type: ignore[index]
    assert {m["name"] for m in messages.values()} == {c.key() for c in CONTRACTS}
    operations = " ".join(doc["operations"])  # type: ignore[arg-type]
    for service in ("intake", "publisher", "email", "order-followup", "health"):
        assert service in operations
    assert "order-followup_crm_receives_order_created_v1" in operations


@needs_tool(
    shutil.which("node") is not None and (VALIDATOR / "node_modules/@asyncapi/parser").exists(),
    "node or @asyncapi/parser is not installed (make tools installs it)",
)
def test_official_parser_accepts_the_document(tmp_path: Path) -> None:
    write_docs(tmp_path / "asyncapi.json")
    result = subprocess.run(
        ["node", str(VALIDATOR / "validate.mjs"), str(tmp_path / "asyncapi.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=VALIDATOR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout
