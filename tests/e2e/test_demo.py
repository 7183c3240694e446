"""`eventyard demo` against real services: its narration matches what really happened."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import orjson

from cli.demo.mailbox import parse
from cli.demo.run import DEMO_CONFIG, demo_environment
from services.catalog import SERVICES
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port_block
from tests.support.yard import yard_running

MAIL_LOG = Path("/tmp/eventyard-demo-mail.log")  # the demo integrations file's console_path


def demo(settings: Settings, base_port: int, record: Path, *options: str) -> tuple[int, str]:
    """Run `eventyard demo` as a user would; its exit code and what it printed."""
    env = environment(settings)
    env.pop("EVENTYARD_CONFIG")  # the demo brings its own integrations file
    env.pop("EVENTYARD_RETRY__DELAYS")  # and its own short ladder (demo.env)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--base-port", str(base_port),
         "--record", str(record), *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


async def test_demo_tells_what_the_stand_ins_and_the_console_provider_saw(
    settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "record.json"
    base = free_port_block(len(SERVICES))
    code, out = await asyncio.to_thread(demo, settings, base, record)
    assert code == 0, out
    assert "no services answer; starting all five" in out
    check_narration(out, record)


async def test_demo_uses_services_already_running_as_make_run_starts_them(
    settings: Settings, tmp_path: Path
) -> None:
    # `make run` without an eventyard.toml: the demo's integrations file and demo.env.
    applied = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.main", "topology", "apply"],
        env=environment(settings, EVENTYARD_CONFIG=str(DEMO_CONFIG), **demo_environment()),
        capture_output=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    async with yard_running(settings, DEMO_CONFIG, demo_environment(), tmp_path) as yard:
        base = int(yard.url("intake").rsplit(":", 1)[1])
        record = tmp_path / "record.json"
        code, out = await asyncio.to_thread(demo, settings, base, record, "--no-start")
    assert code == 0, out
    assert f"using the services already running at http://127.0.0.1:{base}" in out
    check_narration(out, record)


def check_narration(out: str, record: Path) -> None:
    """What the demo printed is what the stand-ins and the console provider recorded."""
    seen = orjson.loads(record.read_bytes())

    # Two orders were accepted, each with the event id intake answered
    accepted = re.findall(r"answered 202: event (\S+)", out)
    assert len(accepted) == 2
    # Every partner delivery it reports verified was verified by the stand-in, and only those
    partner = [h for h in seen["hits"] if h["standin"] == "partner"]
    assert partner
    assert all(h["verified"] for h in partner)
    assert out.count("signature verified") == len(partner)
    assert {h["webhook_id"] for h in partner} >= set(accepted)
    # The emails it shows are the ones the console provider printed
    printed = {m.subject: m for m in parse(MAIL_LOG.read_text())}
    shown = re.findall(r"│ Subject: (.+)", out)
    assert len(shown) == 2
    for subject in shown:
        assert subject in printed
        assert printed[subject].text.strip().splitlines()[0] in out
    assert [m["subject"] for m in seen["mails"]] == shown
    # The CRM was down for the second order, climbed the ladder, then synced once
    first, second = seen["orders"]
    assert set(seen["orders"][first]) >= {"crm", "warehouse", "mail", "partner"}
    crm = [h for h in seen["hits"] if h["standin"] == "crm"]
    statuses = [h["status"] for h in crm]
    assert statuses[0] == 200
    assert statuses[1:].count(503) >= 2
    assert statuses[-1] == 200
    assert len(re.findall(r"attempt \d failed .*retry\.\d+s", out)) >= 2
    assert f"upserted customer cus_1042 and order {second}" in out
    assert "eventyard parked list" in out
