"""`eventyard demo` against real services: its narration matches what really happened."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import orjson

from cli.demo.mailbox import parse
from services.catalog import SERVICES
from shared.settings import Settings
from tests.support.cli import environment
from tests.support.services import free_port_block

MAIL_LOG = Path("/tmp/eventyard-demo-mail.log")  # the demo integrations file's console_path


async def test_demo_tells_what_the_stand_ins_and_the_console_provider_saw(
    settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "record.json"
    env = environment(settings)
    env.pop("EVENTYARD_CONFIG")  # the demo brings its own integrations file
    env.pop("EVENTYARD_RETRY__DELAYS")  # and its own short ladder (demo.env)
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "cli.main",
            "demo",
            "--base-port",
            str(free_port_block(len(SERVICES))),
            "--record",
            str(record),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
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
