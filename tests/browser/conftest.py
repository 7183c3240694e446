"""One chromium per test module, shared by its tests: they run in the module's event loop
(`pytest.mark.asyncio(loop_scope="module")` in the module's `pytestmark`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from tests.support.browser import chromium


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """The system's chromium, headless, launched once for the module."""
    async with chromium() as launched:
        yield launched
