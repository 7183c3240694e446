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
from services.yard import SERVICES
from shared.settings import RetrySettings, Settings
from tests.support.cli import environment, eventyard
from tests.support.services import free_port_block
from tests.support.yard import yard_running

MAIL_LOG = Path("/tmp/eventyard-demo-mail.log")  # the demo integrations file's console_path


def run_demo(
    settings: Settings, base_port: int, record: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """Run `eventyard demo` as a user would, on the test's broker."""
    env = environment(settings)
    env.pop("EVENTYARD_CONFIG")  # the demo brings its own integrations file
    env.pop("EVENTYARD_RETRY__DELAYS")  # and its own short ladder (demo.env)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--base-port", str(base_port),
         "--record", str(record), *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip


def demo(settings: Settings, base_port: int, record: Path, *options: str) -> tuple[int, str]:
    """Run `eventyard demo`; its exit code and everything it printed."""
    result = run_demo(settings, base_port, record, *options)
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
    # And the story it points to is on record across services: the signed webhook intake
    # accepted, order-followup's steps, and the order's delivery to the partner
    [event_id] = re.findall(r"  eventyard attempts (\S+)\n", out)
    told = await asyncio.to_thread(eventyard, settings, "attempts", event_id, "--json")
    rows = [orjson.loads(line) for line in told.stdout.splitlines()]
    story = [(r["kind"], r["target"], r["outcome"]) for r in rows]
    assert story[0] == ("webhook", "shop", "accepted"), told.stdout + told.stderr
    assert ("delivery", "partner", "succeeded") in story, told.stdout
    assert ("command", "order-followup.crm", "succeeded") in story, told.stdout


async def test_demo_uses_services_already_running_and_reads_their_retry_ladder(
    settings: Settings, tmp_path: Path
) -> None:
    # Given the services started as `make run` starts them (topology applied, the demo's
    # integrations file and secrets), on a ladder the demo does not know (no step of it is one
    # of demo.env's: retry.1s, retry.2s, retry.5s, …)
    theirs = settings.model_copy(update={"retry": RetrySettings(delays=[1.5, 3, 6])})
    secrets = {k: v for k, v in demo_environment().items() if k.startswith("DEMO_")}
    applied = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.main", "topology", "apply"],
        env=environment(theirs, EVENTYARD_CONFIG=str(DEMO_CONFIG), **secrets),
        capture_output=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    async with yard_running(theirs, DEMO_CONFIG, secrets, tmp_path) as yard:
        base = int(yard.url("intake").rsplit(":", 1)[1])
        record = tmp_path / "record.json"

        # When the demo is run against them
        code, out = await asyncio.to_thread(demo, settings, base, record, "--no-start")

    # Then it uses them, narrates the CRM's retries on their ladder, and the story completes
    assert code == 0, out
    assert f"using the services already running at http://127.0.0.1:{base}" in out
    assert "their retry ladder: retry.1500ms, retry.3s, retry.6s" in out
    assert "the broker holds it on retry.1500ms" in out
    check_narration(out, record)


async def test_demo_after_run_all_without_its_config_says_in_one_line_what_to_run_instead(
    settings: Settings, tmp_path: Path
) -> None:
    # Given `eventyard run all` with the default configuration: no integrations, the
    # production ladder (none of the demo's stand-ins, sources or ladder steps)
    production = settings.model_copy(update={"retry": RetrySettings()})
    async with yard_running(production, {}, {}, tmp_path) as yard:
        base = int(yard.url("intake").rsplit(":", 1)[1])

        # When the demo is run against them
        result = await asyncio.to_thread(run_demo, settings, base, tmp_path / "record.json")

    # Then it says in one line that they cannot carry its orders, and what to run instead
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"eventyard: the services at http://127.0.0.1:{base} run another integrations file"
    )
    assert line.endswith("stop them and run `eventyard demo`, which starts its own")


def check_narration(out: str, record: Path) -> None:
    """What the demo printed is what the stand-ins and the console provider recorded."""
    seen = orjson.loads(record.read_bytes())

    # Two orders and a cancellation were accepted, each with the event id intake answered
    accepted = re.findall(r"answered 202: event (\S+)", out)
    assert len(accepted) == 3
    # Every partner delivery it reports verified was verified by the stand-in, and only those
    partner = [h for h in seen["hits"] if h["standin"] == "partner"]
    assert partner
    assert all(h["verified"] for h in partner)
    assert out.count("signature verified") == len(partner)
    assert {h["webhook_id"] for h in partner} >= set(accepted)
    # The emails it shows are the ones the console provider printed
    printed = {m.subject: m for m in parse(MAIL_LOG.read_text())}
    shown = re.findall(r"│ Subject: (.+)", out)
    assert len(shown) == 3  # two confirmations, and the scheduled email
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
    assert len(re.findall(r"attempt \d failed .*retry\.\d+m?s", out)) >= 2
    assert f"upserted customer cus_2077 and order {second}" in out
    # The profile read: answered for order 1, failed with the CRM down for order 2, whose
    # email went out anyway: the order's own name, and the fallback's tier (no gold line)
    assert "answered the profile read for cus_1042" in out
    assert "the profile read for cus_2077 got 503" in out
    [ada] = [m for m in seen["mails"] if first in m["subject"] and "confirmed" in m["subject"]]
    [grace] = [m for m in seen["mails"] if second in m["subject"]]
    assert "(from the CRM)" in ada["text"]
    assert "gold member" in ada["text"]
    assert "Hello Grace Hopper," in grace["text"]
    assert "gold member" not in grace["text"]
    # Order 1 was cancelled: refunded once with its event id as the key, tracked once, and the
    # scheduled email went out no earlier than asked
    [refund] = [h for h in seen["hits"] if h["standin"] == "payments"]
    assert refund["body"]["payment_intent"] == f"pi_{first}"
    assert refund["idempotency_key"] == accepted[2]
    [track] = [h for h in seen["hits"] if h["standin"] == "analytics"]
    assert track["body"]["event"] == "Order Cancelled"
    assert set(seen["orders"][first]) >= {"refunded", "analytics", "scheduled_mail"}
    [(sent, scheduled)] = re.findall(r"sent at (\S+), scheduled for (\S+):", out)
    assert sent >= scheduled
    assert "eventyard parked list" in out
