"""The operator files are valid: alert rules, compose file, dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.tools import needs_tool

ROOT = Path(__file__).parents[2]


@needs_tool(shutil.which("promtool") is not None, "promtool is not installed (make tools)")
def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "ops/prometheus/alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_tool(shutil.which("promtool") is not None, "promtool is not installed (make tools)")
def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    # promtool resolves rule_files relative to the config; check a copy that points at ours.
    config = (
        (ROOT / "ops/prometheus/prometheus.yml")
        .read_text()
        .replace("/etc/prometheus/alerts.yml", str(ROOT / "ops/prometheus/alerts.yml"))
    )
    (tmp_path / "prometheus.yml").write_text(config)
    result = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_has_a_panel_per_golden_signal() -> None:
    dashboard = json.loads((ROOT / "ops/grafana/eventyard-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for signal in ("traffic", "errors", "latency", "saturation"):
        assert signal in titles
    for panel in dashboard["panels"]:
        assert all("eventyard_" in t["expr"] or "up{" in t["expr"] for t in panel["targets"])
