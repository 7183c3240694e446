"""A real headless browser for the console's tests: Debian's chromium (`make tools` installs
it), driven by Playwright; Playwright's own browser download is never used."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from tests.support.tools import fail_missing_tool

CHROMIUM = shutil.which("chromium")
# Without the background-networking flags chromium calls home (updates, sync, safe browsing)
# at start, and a closed network refuses those connections many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every page a browser test saw, for a person to look at after the run (gitignored).
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Launch the system's chromium headless; close it after."""
    if CHROMIUM is None:
        # needs_tool skips a test without chromium, except where EVENTYARD_REQUIRE_TOOLS=1;
        # without an executable_path Playwright would look for a browser download of its own.
        fail_missing_tool()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Screenshots:
    """Numbered full-page screenshots of one test, `<prefix>-<n>-<name>.png`; the prefix's
    pictures of an earlier run are removed first, so that none is mistaken for this run's."""

    def __init__(self, prefix: str, folder: Path = SCREENSHOTS) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{prefix}-*.png"):
            old.unlink()
        self._prefix, self._folder = prefix, folder
        self.taken: list[Path] = []

    async def take(self, page: Page, name: str) -> Path:
        path = self._folder / f"{self._prefix}-{len(self.taken) + 1}-{name}.png"
        await page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path
