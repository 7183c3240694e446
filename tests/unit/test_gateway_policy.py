"""Endpoint policies from the integrations file, and the retry arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.config import DestinationConfig, IntegrationConfig
from shared.errors import ConfigError
from shared.gateway import (
    EndpointPolicy,
    policy_for_destination,
    policy_for_integration,
    url_origin,
)
from shared.gateway.retry import BACKOFF_CAP, backoff, may_retry, parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def test_an_integration_keeps_its_auth_limits_and_credentials_in_order() -> None:
    config = IntegrationConfig.model_validate(
        {
            "base_url": "https://crm.example.com/api",
            "auth": "bearer",
            "credentials": ["CRM_NEW", "CRM_OLD"],
            "connect_timeout_seconds": 2,
            "timeout_seconds": 9,
            "rate_limit_per_second": 5,
            "concurrency": 3,
            "max_retries": 1,
        }
    )
    policy = policy_for_integration("crm", config)
    assert policy.name == "crm"
    assert policy.base_url == "https://crm.example.com/api"
    assert (policy.auth, policy.credentials) == ("bearer", ("CRM_NEW", "CRM_OLD"))
    assert (policy.connect_timeout, policy.timeout) == (2, 9)
    assert (policy.rate_limit_per_second, policy.concurrency, policy.max_retries) == (5, 3, 1)
    assert policy.allow_private_network is False


def test_the_breaker_is_configured_per_integration_and_destination() -> None:
    breaker = {"failure_rate": 0.25, "window": 8, "min_calls": 3, "open_seconds": 2.5}
    destination = DestinationConfig.model_validate(
        {"url": "https://hooks.example.com/in", "events": ["order.*"], "breaker": breaker}
    )
    integration = IntegrationConfig.model_validate(
        {"base_url": "https://crm.example.com/", "breaker": {"open_seconds": 90}}
    )
    configured = policy_for_destination("partner", destination)
    default = policy_for_integration("crm", integration)
    assert (
        configured.breaker_failure_rate,
        configured.breaker_window,
        configured.breaker_min_calls,
        configured.breaker_open_seconds,
    ) == (0.25, 8, 3, 2.5)
    assert (default.breaker_failure_rate, default.breaker_open_seconds) == (0.5, 90)


def test_a_destination_has_no_auth_and_no_in_call_retries() -> None:
    config = DestinationConfig.model_validate(
        {
            "url": "https://hooks.example.com/in",
            "events": ["order.*"],
            "secrets": ["HOOK_SECRET"],
            "timeout_seconds": 3,
            "allow_private_network": True,
        }
    )
    policy = policy_for_destination("partner", config)
    assert (policy.auth, policy.credentials, policy.max_retries) == ("none", (), 0)
    assert (policy.timeout, policy.connect_timeout) == (3, 3)
    assert policy.allow_private_network is True


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"base_url": "ftp://files.example.com/"}, "absolute http"),
        ({"base_url": "/relative/only"}, "absolute http"),
        ({"base_url": "https://bob:hunter22@example.com/"}, "user:password"),
        ({"auth": "bearer"}, "needs at least one credential"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"breaker_failure_rate": 1.5}, "breaker_failure_rate"),
    ],
)
def test_unusable_policies_are_refused_at_startup(changes: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"name": "crm", "base_url": "https://api.example.com/", **changes}
    with pytest.raises(ConfigError, match=problem):
        EndpointPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        (format_datetime(datetime(2026, 3, 1, 12, 1, 30, tzinfo=UTC), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("1.5", None),
        ("\u00b2", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_backoff_is_full_jitter_under_a_cap() -> None:
    for retry in range(1, 12):
        ceiling = min(BACKOFF_CAP, 0.2 * 2 ** (retry - 1))
        assert all(0 <= backoff(retry) <= ceiling for _ in range(50))


@pytest.mark.parametrize(
    ("method", "key", "retried"),
    [
        ("GET", None, True),
        ("HEAD", None, True),
        ("OPTIONS", None, True),
        ("POST", None, False),
        ("PUT", None, False),
        ("PATCH", None, False),
        ("DELETE", None, False),
        ("POST", "k-1", True),
        ("PUT", "k-1", True),
        ("PATCH", "k-1", True),
        ("DELETE", "k-1", True),
    ],
)
def test_reads_and_writes_with_an_idempotency_key_are_retried(
    method: str, key: str | None, retried: bool
) -> None:
    assert may_retry(method, key) is retried


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://hooks.example.com/in/s3cr3t-token?sig=abc#frag", "https://hooks.example.com"),
        ("https://user:pw@Hooks.Example.com:443/in", "https://hooks.example.com"),
        ("http://hooks.example.com:80/", "http://hooks.example.com"),
        ("http://127.0.0.1:8080/hook?token=t", "http://127.0.0.1:8080"),
        ("https://[2001:db8::1]:8443/a/b", "https://[2001:db8::1]:8443"),
    ],
)
def test_url_origin_keeps_only_scheme_host_and_port(url: str, origin: str) -> None:
    assert url_origin(url) == origin
