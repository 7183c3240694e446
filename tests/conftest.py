"""Fixtures for every suite: a throwaway vhost and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import AttemptsSettings, RetrySettings, Settings
from tests.support.broker import throwaway_vhost
from tests.support.tools import _missing_required_tool  # noqa: F401 - the fixture, for every suite


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the long fuzz budgets out unless a marker expression names them."""
    if "fuzz_long" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("fuzz_long") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


# Sub-second ladder for tests; production spans more than a day.
TEST_DELAYS = [0.2, 0.4, 0.6]


@pytest.fixture
def broker_url() -> Iterator[str]:
    """The AMQP URL of a vhost of this test's own, deleted afterwards."""
    with throwaway_vhost() as url:
        yield url


@pytest.fixture
def settings(broker_url: str, tmp_path: object) -> Settings:
    """Settings for a test: own vhost, fast ladder, small delivery limit, no config file, an
    attempts log of its own."""
    return Settings(
        broker_url=broker_url,
        retry=RetrySettings(delays=TEST_DELAYS, delivery_limit=2),
        config=f"{tmp_path}/eventyard.toml",
        attempts=AttemptsSettings(url=f"sqlite:///{tmp_path}/attempts.db"),
        graceful_timeout_seconds=5,
        publish_timeout_seconds=5,
    )
