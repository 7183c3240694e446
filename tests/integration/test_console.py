"""The console on the health service, against the real broker and attempts log: the overview,
the failure groups and a message's story, escaped, read-only, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from services.health.app import DEFINITION as HEALTH
from services.yard import build_topology
from shared import headers as h
from shared.attempts.store import Attempt, AttemptsStore
from shared.config import IntegrationsFile
from shared.publishing import build_event, event_message
from shared.settings import Settings
from shared.topology import declare
from tests.support.console import (
    ANSWERS,
    CRM,
    TOKEN,
    console_settings,
    first_round_done,
    health_counts_parked,
    park_rejected_orders,
)
from tests.support.events import connected, queue_depth, sample_order
from tests.support.services import running
from tests.support.waiting import eventually

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


async def test_the_console_shows_the_yard_its_failures_and_a_messages_story(
    settings: Settings,
) -> None:
    integrations = IntegrationsFile.model_validate({
        "destinations": {"partner": {"url": "https://partner.example.com/hooks",
                                     "events": ["order.*.v1"], **ANSWERS}},
        "integrations": {"crm": {"base_url": "https://crm.example.com", **ANSWERS}},
    })  # fmt: skip
    fast = console_settings(settings)
    topology = build_topology(fast, integrations)
    log = await AttemptsStore.open(settings.attempts.url.get_secret_value())
    await log.record([
        Attempt("evt-9", "order.created", "delivery", "partner", 1, AT, "failed", 30.0, 503,
                "HttpTransientError", "<b>down</b>"),
        Attempt("evt-9", "order.created", "delivery", "partner", 2, AT.replace(minute=1),
                "succeeded", 12.0, 200),
    ])  # fmt: skip
    await log.close()
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        async with connection.channel() as channel:
            await declare(channel, topology)
        channel = await connection.channel(publisher_confirms=True)
        parked = event_message(build_event(sample_order("ord_1"), source="tests"))
        parked.headers = {
            h.REASON: "exhausted",
            h.ERROR_TYPE: "HttpTransientError",
            h.ERROR_MESSAGE: "partner returned 503 for ord_1x",
            h.ATTEMPTS: 6,
        }
        await channel.default_exchange.publish(parked, routing_key="publisher.dest.partner.parked")
        async with (
            running(HEALTH, fast, topology, integrations) as base,
            httpx.AsyncClient(base_url=base) as client,
        ):
            await eventually(lambda: first_round_done(client), timeout=15, every=0.1)
            overview = await client.get("/console")
            failures = await client.get("/console/failures")
            story = await client.get("/console/messages", params={"event_id": "evt-9"})
            hostile = await client.get("/console/messages", params={"event_id": "<script>x"})
            nothing = await client.get("/console/messages", params={"event_id": "evt-none"})
            posted = await client.post("/console/messages", data={"event_id": "evt-9"})
            live = await client.get("/console/live")

    assert overview.status_code == 200
    assert overview.headers["content-type"].startswith("text/html")
    assert "partner" in overview.text
    assert "publisher.dest.partner" in overview.text
    assert "2026-12-03T10:01:00+00:00" in overview.text  # partner's last success, from the log
    assert "crm" in overview.text

    assert failures.status_code == 200
    assert "partner returned &lt;n&gt; for &lt;id&gt;" in failures.text
    assert "publisher.dest.partner" in failures.text

    assert story.status_code == 200
    assert story.text.count("<tr>") == 3  # the header and two attempts
    assert "&lt;b&gt;down&lt;/b&gt;" in story.text  # what a partner answered is escaped
    assert "<b>down</b>" not in story.text
    assert "&lt;script&gt;x" in hostile.text
    assert "<script>x" not in hostile.text
    assert "no attempts on record for this id" in nothing.text
    assert posted.status_code == 405  # read-only
    assert live.status_code == 200
    assert 'http-equiv="refresh"' in live.text  # live without JavaScript
    assert "handled/s" in live.text


async def test_a_group_is_replayed_from_the_console_with_the_token_and_its_csrf_form(
    settings: Settings,
) -> None:
    fast = console_settings(settings, token=TOKEN)
    topology = build_topology(fast, IntegrationsFile())
    url = settings.broker_url.get_secret_value()
    async with connected(url) as connection:
        async with connection.channel() as channel:
            await declare(channel, topology)
        await park_rejected_orders(connection, 2)
        async with (
            running(HEALTH, fast, topology) as base,
            httpx.AsyncClient(base_url=base) as client,
        ):
            await eventually(lambda: first_round_done(client), timeout=15, every=0.1)
            listed = await client.get("/console/failures")
            [group] = re.findall(r"/console/failures/([0-9a-f]{10})/replay", listed.text)
            form = await client.get(f"/console/failures/{group}/replay")
            [csrf] = re.findall(r'name="csrf" value="([^"]+)"', form.text)
            purge_form = await client.get(f"/console/failures/{group}/purge")
            [purge_csrf] = re.findall(r'name="csrf" value="([^"]+)"', purge_form.text)
            target = f"/console/failures/{group}/replay"
            forged = await client.post(target, data={"token": TOKEN})
            wrong = await client.post(target, data={"token": "not-the-token-at-all", "csrf": csrf})
            other = await client.post(target, data={"token": TOKEN, "csrf": purge_csrf})
            huge = await client.post(target, data={"token": TOKEN, "csrf": csrf, "x": "y" * 9000})
            assert await queue_depth(connection, f"{CRM}.parked") == 2
            done = await client.post(target, data={"token": TOKEN, "csrf": csrf})
            after = await client.get("/console/failures")
            # The action asked health for a round at once (its interval here is 600 s), so the
            # overview's parked count drops without waiting for it.
            await eventually(lambda: health_counts_parked(client, CRM, 0), timeout=5)
            # The result page reloaded sends the form again: what was parked since stays
            await park_rejected_orders(connection, 1)
            again = await client.post(target, data={"token": TOKEN, "csrf": csrf})
            assert await queue_depth(connection, f"{CRM}.parked") == 1
        assert await queue_depth(connection, CRM) == 2

    assert (form.status_code, "replay 2 messages" in form.text) == (200, True)
    assert (forged.status_code, "CSRF" in forged.text) == (403, True)
    assert (wrong.status_code, "token is not right" in wrong.text) == (403, True)
    assert other.status_code == 403  # a purge form does not replay
    assert huge.status_code == 413
    assert (done.status_code, "replayed 2 of 2 scanned" in done.text) == (200, True)
    assert TOKEN not in done.text + form.text
    assert "nothing is parked" in after.text
    assert (again.status_code, "sent already" in again.text) == (409, True)


async def test_without_a_token_the_console_is_read_only(settings: Settings) -> None:
    topology = build_topology(settings, IntegrationsFile())
    async with (
        running(HEALTH, settings, topology) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        asked = await client.get("/console/failures/0123456789/replay")
        posted = await client.post("/console/failures/0123456789/purge", data={"token": "x"})
        unknown = await client.get("/console/failures/0123456789/teleport")
    assert (asked.status_code, posted.status_code, unknown.status_code) == (403, 403, 404)
    assert "read-only" in asked.text
