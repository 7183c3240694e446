"""A bad setting gives one line naming the variable: never a traceback, never the password.

Passwords with reserved characters must be percent-encoded in EVENTYARD_BROKER_URL, and work
when they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import typer
from pydantic import SecretStr
from yarl import URL

from cli.common import load
from shared.broker import connection_url, redacted_url
from shared.settings import Settings
from tests.support.broker import broker_user as user_on
from tests.support.cli import environment

PASSWORD = "p/a@s:s#w?rd"
ENCODED = quote(PASSWORD, safe="")  # p%2Fa%40s%3As%23w%3Frd


def fragments(secret: str, size: int = 3) -> set[str]:
    """Every piece of `secret` at least `size` characters long that could give it away."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_one_line_without(output: str, secret: str, setting: str) -> None:
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith(f"eventyard: invalid setting {setting}: "), output
    assert "Traceback" not in output
    leaked = {f for f in fragments(secret) if f in output}
    assert not leaked, f"{leaked} of the value shown in {output!r}"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No EVENTYARD_* of the caller's; no integrations file."""
    for name in [n for n in os.environ if n.upper().startswith("EVENTYARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EVENTYARD_CONFIG", str(tmp_path / "eventyard.toml"))
    return monkeypatch


def load_fails(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(typer.Exit) as exit_info:
        load()
    assert exit_info.value.exit_code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


SECRET = "Zq9Kx7Wv"  # a password nothing in a message could contain by chance

BAD_URLS = {
    "raw / in the password": ("amqp://guest:Zq9/Kx7Wv@127.0.0.1:5672/", "Zq9/Kx7Wv", "%2F"),
    "raw @ in the password": ("amqp://guest:Zq9@Kx7Wv@127.0.0.1:5672/", "Zq9@Kx7Wv", "%40"),
    "raw # in the password": ("amqp://guest:Zq9#Kx7Wv@127.0.0.1:5672/", "Zq9#Kx7Wv", "%23"),
    "raw ? in the password": ("amqp://guest:Zq9?Kx7Wv@127.0.0.1:5672/", "Zq9?Kx7Wv", "%3F"),
    "all of them raw": (f"amqp://guest:{PASSWORD}@127.0.0.1:5672/vh", PASSWORD, "%2F"),
    "a stray %": ("amqp://guest:Zq9%zzKx7Wv@127.0.0.1:5672/", "Zq9%zzKx7Wv", "%XX"),
    "a space": ("amqp://guest:Zq9 Kx7Wv@127.0.0.1:5672/", "Zq9 Kx7Wv", "space"),
    "no host": (f"amqp://guest:{SECRET}@/", SECRET, "no host"),
    "http scheme": (f"http://guest:{SECRET}@127.0.0.1:5672/", SECRET, "amqp or amqps"),
    "port out of range": (f"amqp://guest:{SECRET}@127.0.0.1:99999/", SECRET, "port"),
    "port not a number": (f"amqp://guest:{SECRET}@127.0.0.1:amqp/", SECRET, "port"),
    "port zero": (f"amqp://guest:{SECRET}@127.0.0.1:0/", SECRET, "port"),
    "a numeric start then raw /": ("amqp://guest:1234/Zq9Kx7Wv@127.0.0.1/", "1234/Zq9Kx7Wv", "%2F"),
    "not a URL": (f"guest:{SECRET}@127.0.0.1", SECRET, "not a URL"),
}


@pytest.mark.parametrize("case", BAD_URLS)
def test_a_bad_broker_url_is_one_line_naming_the_setting_and_quoting_none_of_it(
    case: str, clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, password, reason = BAD_URLS[case]
    clean_environment.setenv("EVENTYARD_BROKER_URL", url)
    output = load_fails(capsys)
    assert_one_line_without(output, password, "EVENTYARD_BROKER_URL")
    assert reason in output
    assert "127.0.0.1" not in output


def test_the_reason_says_how_to_write_such_a_password(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("EVENTYARD_BROKER_URL", f"amqp://guest:{PASSWORD}@127.0.0.1:5672/")
    output = load_fails(capsys)
    assert "percent-encode reserved characters in the user name and password" in output
    assert "/ → %2F, @ → %40, : → %3A" in output


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"EVENTYARD_PREFETCH": "abcSECRETISH"}, ["EVENTYARD_PREFETCH"]),
        ({"EVENTYARD_PREFETCH": "0"}, ["EVENTYARD_PREFETCH"]),
        ({"EVENTYARD_RETRY__DELAYS": "[-1]"}, ["EVENTYARD_RETRY__DELAYS"]),
        ({"EVENTYARD_RETRY__DELAYS": "notJSONSECRETISH"}, ["EVENTYARD_RETRY__DELAYS"]),
        ({"EVENTYARD_HEALTH__INTERVAL_SECONDS": "-5"}, ["EVENTYARD_HEALTH__INTERVAL_SECONDS"]),
        (
            {"EVENTYARD_PREFETCH": "abcSECRETISH", "EVENTYARD_RETRY__DELIVERY_LIMIT": "0"},
            ["EVENTYARD_PREFETCH", "EVENTYARD_RETRY__DELIVERY_LIMIT"],
        ),
    ],
)
def test_any_bad_setting_is_one_line_naming_each_variable(
    variables: dict[str, str],
    named: list[str],
    clean_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in variables.items():
        clean_environment.setenv(name, value)
    output = load_fails(capsys)
    assert len(output.splitlines()) == 1, output
    assert output.startswith("eventyard: invalid setting ")
    for name in named:
        assert f"invalid setting {name}: " in output
    assert "SECRETISH" not in output
    assert "input_value" not in output
    assert "validation error for" not in output


@pytest.mark.parametrize(
    "url",
    [
        f"amqp://svc:{ENCODED}@broker.internal:5672/prod",
        "amqp://svc:pa:ss@broker.internal/",  # a raw : in the password is unambiguous
        "amqps://svc:pw@broker.internal:5671/prod?cafile=/etc/ssl/ca.pem",
        "amqp://broker.internal/prod?name=ops@example",  # an @ in the query is no user-info
        "amqp://guest:guest@[::1]:5672/",
        "AMQP://guest:guest@127.0.0.1",
    ],
)
def test_good_broker_urls_are_accepted(url: str) -> None:
    assert Settings(broker_url=url).broker_url.get_secret_value() == url


def test_a_percent_encoded_password_is_accepted_and_reaches_the_client_decoded() -> None:
    settings = Settings(broker_url=f"amqp://svc:{ENCODED}@broker.internal:5672/prod")
    url = URL(connection_url(settings, "eventyard-test"))
    assert (url.user, url.password, url.host, url.port, url.path) == (
        "svc",
        PASSWORD,
        "broker.internal",
        5672,
        "/prod",
    )
    shown = redacted_url(settings)
    assert shown == "amqp://svc:***@broker.internal:5672/prod"
    assert not {f for f in fragments(PASSWORD) | fragments(ENCODED) if f in shown}


def test_a_url_that_skipped_validation_is_still_never_shown() -> None:
    settings = Settings.model_construct(
        broker_url=SecretStr(f"amqp://guest:{PASSWORD}@127.0.0.1:5672/"), heartbeat_seconds=10
    )
    assert redacted_url(settings) == "EVENTYARD_BROKER_URL"
    with pytest.raises(ValueError, match="EVENTYARD_BROKER_URL") as raised:
        connection_url(settings, "eventyard-test")
    assert not {f for f in fragments(PASSWORD) if f in str(raised.value)}


def run_cli(settings: Settings, broker_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=environment(settings, EVENTYARD_BROKER_URL=broker_url),
        timeout=120,
        check=False,
    )


@pytest.fixture
def broker_user(settings: Settings) -> Iterator[tuple[str, str]]:
    """A RabbitMQ user whose password holds / @ : # ?, allowed on the test's vhost."""
    url = settings.broker_url.get_secret_value()
    with user_on(url, PASSWORD, configure=".*", write=".*", read=".*") as user:
        yield user, URL(url).path.lstrip("/")


def test_a_password_with_reserved_characters_works_percent_encoded_and_is_refused_raw(
    settings: Settings, broker_user: tuple[str, str]
) -> None:
    user, vhost = broker_user
    encoded = run_cli(
        settings, f"amqp://{user}:{ENCODED}@127.0.0.1:5672/{vhost}", "topology", "apply"
    )
    assert encoded.returncode == 0, encoded.stderr
    assert "declared exchange events" in encoded.stdout

    for command in (["topology", "apply"], ["run", "intake", "--port", "1"]):
        raw = run_cli(settings, f"amqp://{user}:{PASSWORD}@127.0.0.1:5672/{vhost}", *command)
        assert raw.returncode == 2, raw.stderr
        assert raw.stdout == ""
        assert_one_line_without(raw.stderr, PASSWORD, "EVENTYARD_BROKER_URL")
