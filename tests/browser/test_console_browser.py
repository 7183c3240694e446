"""The console in a real headless browser (Debian's chromium, driven by Playwright): an
operator opens the overview, follows the parked count to the failure groups, opens a group's
replay, confirms it with the console token, and sees the parked count drop. The same form
with its CSRF token taken out is refused and moves nothing. Then a message's story, searched by
its id, and the live rates. Every page is saved as
test-artifacts/screenshots/console-<n>-<page>.png."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from services.health.app import DEFINITION as HEALTH
from services.yard import build_topology
from shared.attempts.model import Attempt
from shared.attempts.store import AttemptsStore
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import declare
from tests.support.browser import CHROMIUM, PNG_SIGNATURE, SCREENSHOTS, Screenshots
from tests.support.console import (
    ANSWERS,
    CRM,
    TOKEN,
    console_settings,
    first_round_done,
    park_rejected_orders,
)
from tests.support.events import connected, queue_depth
from tests.support.services import running
from tests.support.tools import needs_tool
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),  # the module's one chromium lives in that loop
    needs_tool(CHROMIUM is not None, "chromium is not installed (make tools)"),
]

PARKED = 3
STORY_ID = "evt-story-1"
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
GROUP_LINE = "crm returned <n> for <id>"


def parked_count(page: Page, name: str) -> Locator:
    """The overview's parked count of one destination or integration."""
    row = page.locator("tr", has=page.get_by_role("cell", name=name, exact=True))
    return row.locator("td.parked")


async def test_an_operator_replays_a_failure_group_and_sees_the_parked_count_drop(
    settings: Settings, browser: Browser
) -> None:
    integrations = IntegrationsFile.model_validate(
        {"integrations": {"crm": {"base_url": "https://crm.example.com", **ANSWERS}}}
    )
    fast = console_settings(settings, token=TOKEN)
    topology = build_topology(fast, integrations)
    log = await AttemptsStore.open(settings.attempts.url.get_secret_value())
    await log.record([
        Attempt(STORY_ID, "order.created", "command", CRM, 1, AT, "failed", 30.0, 503,
                "HttpTransientError", "crm down", "retry.5s"),
        Attempt(STORY_ID, "order.created", "command", CRM, 2, AT.replace(minute=1),
                "succeeded", 12.0, 200),
    ])  # fmt: skip
    await log.close()
    shots = Screenshots("console")
    print(f"screenshots: {SCREENSHOTS}/console-*.png")
    async with connected(settings.broker_url.get_secret_value()) as connection:
        async with connection.channel() as channel:
            await declare(channel, topology)
        # Only health runs: nothing consumes the CRM step, so a replayed message waits there.
        await park_rejected_orders(connection, PARKED)
        async with (
            running(HEALTH, fast, topology, integrations) as base,
            httpx.AsyncClient(base_url=base) as client,
        ):
            await eventually(lambda: first_round_done(client), timeout=15, every=0.1)
            context = await browser.new_context(base_url=base)
            try:
                page = await context.new_page()

                await page.goto("/console")
                await expect(parked_count(page, "crm")).to_have_text(str(PARKED))
                await shots.take(page, "overview")

                await parked_count(page, "crm").get_by_role("link").click()
                await expect(page).to_have_url(f"{base}/console/failures")
                group = page.locator("tr", has_text=GROUP_LINE)
                await expect(group.locator("td").nth(5)).to_have_text(str(PARKED))
                await shots.take(page, "failures")

                await group.get_by_role("link", name="replay…").click()
                confirmation = page.url
                submit = page.get_by_role("button", name=f"replay {PARKED} messages")
                await expect(submit).to_be_visible()
                await shots.take(page, "confirmation")

                # The form with its CSRF token taken out, and a bare POST: both refused.
                await page.locator("input[name=csrf]").evaluate("field => field.remove()")
                await page.get_by_label("console token").fill(TOKEN)
                async with page.expect_navigation() as refused:
                    await submit.click()
                assert (await refused.value).status == 403
                await expect(page.locator("body")).to_contain_text("(CSRF)")
                await shots.take(page, "refused")
                bare = await page.request.post(confirmation, form={"token": TOKEN})
                assert (bare.status, "(CSRF)" in await bare.text()) == (403, True)
                assert await queue_depth(connection, f"{CRM}.parked") == PARKED  # none moved

                await page.goto(confirmation)
                await page.get_by_label("console token").fill(TOKEN)
                async with page.expect_navigation() as replayed:
                    await submit.click()
                assert (await replayed.value).status == 200
                await expect(page.locator("body")).to_contain_text(
                    f"replayed {PARKED} of {PARKED} scanned from {CRM}.parked"
                )
                await shots.take(page, "result")
                assert await queue_depth(connection, f"{CRM}.parked") == 0
                assert await queue_depth(connection, CRM) == PARKED

                # The replay asked health for a round at once; the overview shows it.
                await page.get_by_role("link", name="overview").click()

                async def dropped() -> bool:
                    if await parked_count(page, "crm").inner_text() == "0":
                        return True
                    await page.reload()
                    return False

                await eventually(dropped, timeout=10, every=0.1)
                await shots.take(page, "overview-after")

                # A message's story, searched by its event id from the form
                await page.get_by_role("link", name="a message's story").click()
                await page.get_by_label("event id").fill(STORY_ID)
                await page.get_by_role("button", name="show").click()
                story = page.locator("tr", has_text="retry.5s")
                await expect(story).to_contain_text("HttpTransientError")
                await expect(page.locator("tr", has_text="succeeded")).to_contain_text("200")
                await shots.take(page, "story")

                # Live: the page says what it reads, and reloads itself
                await page.get_by_role("link", name="live").click()
                await expect(page.locator("body")).to_contain_text("handled/s")
                await shots.take(page, "live")
            finally:
                await context.close()

    overview = shots.taken[0].read_bytes()
    assert overview.startswith(PNG_SIGNATURE)
    assert len(overview) > 5000, "the overview's screenshot is too small to show a page"
