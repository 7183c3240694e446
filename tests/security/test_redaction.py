"""One redaction for logs, parked headers, attempt records and error messages.

Credential-shaped keys in every common style, URL user-info and query values, known secrets in
their usual encodings and PEM private keys are hidden by `Redactor.clean`; the JSON log lines
go through the same function, and so does the error text a dropped message is parked with.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any
from urllib.parse import quote, quote_plus

import aio_pika
import pytest

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE
from shared import headers as h
from shared import logs
from shared.logs import JsonFormatter, configure_logging
from shared.redact import Redactor
from shared.settings import Settings
from shared.topology import Topology
from tests.support.events import connected, drain, queue_depth
from tests.support.services import running
from tests.support.waiting import eventually

VALUE = "Zq7-s3cr3t-VALUE-9x"

KEYS = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "api_key",
    "password",
    "secret",
    "authorization",
    "cookie",
    "aws_secret_access_key",
    "private_key",
    # case and separator insensitive
    "Access-Token",
    "CLIENT.SECRET",
    "apiKey",
    "X-Api-Key",
    "x_api_key",
    "API KEY",
    "passwd",
    "db_pwd",
    "PrivateKey",
    "session_id",
    "x-amz-signature",
    "credentials",
    "webhook_secret",
    "oauth.client_secret",
]

STYLES = {
    "json": '{{"{k}": "{v}", "other": 1}}',
    "json compact": '{{"{k}":"{v}"}}',
    "query": "GET /cb?{k}={v}&next=1",
    "form": "a=1&{k}={v}&b=2",
    "header": "{k}: {v}",
    "yaml": "config:\n  {k}: {v}\n  other: 1",
    "python repr": "{{'{k}': '{v}', 'x': 2}}",
    "keyword repr": "Login({k}='{v}')",
    "spaced": "{k} = {v}",
    "escaped json": '{{\\"{k}\\": \\"{v}\\"}}',
    "quoted in error": "ValueError: '{k}={v}' is not TYPE.vN",
    "ruby hash": "{{{k} => {v}}}",
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("key", KEYS)
def test_credential_shaped_keys_are_masked_in_every_style(key: str, style: str) -> None:
    text = STYLES[style].format(k=key, v=VALUE)
    cleaned = Redactor().clean(text, limit=10_000)
    assert VALUE not in cleaned
    assert "s3cr3t" not in cleaned
    assert key in cleaned, "the key stays, so the reader knows what was hidden"
    assert "***" in cleaned


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"access_token": "v"', '"access_token": "***"'),
        ("?client_secret=v", "?client_secret=***"),
        ("X-Api-Key: v", "X-Api-Key: ***"),
        ("aws_secret_access_key: v", "aws_secret_access_key: ***"),
        ("'refresh_token': 'v'", "'refresh_token': '***'"),
        ("Cookie: session=v; theme=dark", "Cookie: ***"),
        ("Set-Cookie: sid=v; Path=/; HttpOnly", "Set-Cookie: ***"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: ***"),
        ("Proxy-Authorization: Digest username=u, response=abc", "Proxy-Authorization: ***"),
        ('"password": "correct horse battery staple"', '"password": "***"'),
        ('password="with \\"escaped\\" quotes" then', 'password="***" then'),
        ("password: correct horse battery staple", "password: ***"),
        ("secret='cut off before the quote", "secret='***"),
        ("sent bearer eyJhbGciOi.x.y", "sent bearer ***"),
        ("retry with Token 9f8e7d6c5b4a", "retry with Token ***"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig-nature", "jwt ***"),
    ],
)
def test_values_are_masked_and_the_rest_kept(text: str, expected: str) -> None:
    assert Redactor().clean(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:pa55@broker:5672/", "amqp://guest:***@broker:5672/"),
        ("amqps://svc:pa55@broker:5671/prod", "amqps://svc:***@broker:5671/prod"),
        ("https://bob:pa55@api.example/v1", "https://bob:***@api.example/v1"),
        ("http://bob:pa55@10.0.0.1:8080/", "http://bob:***@10.0.0.1:8080/"),
        ("smtp://mailer:pa55@smtp.example:587", "smtp://mailer:***@smtp.example:587"),
        ("postgres://app:pa55@db/app?sslmode=require", "postgres://app:***@db/app?sslmode=***"),
        ("redis://:pa55@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://ghp_tokenvalue123@github.com/org/repo", "https://***@github.com/org/repo"),
        # a password someone forgot to percent-encode is still hidden whole
        ("amqp://guest:pa/ss@broker:5672/", "amqp://guest:***@broker:5672/"),
        ("amqp://guest:pa@ss@broker:5672/", "amqp://guest:***@broker:5672/"),
        ("amqp://u:p/a@s:s#w?rd@broker:5672/vh", "amqp://u:***@broker:5672/vh"),
        # every query and fragment value, whatever its name
        (
            "https://api.example/cb?code=abc123&state=xyz&scope=read",
            "https://api.example/cb?code=***&state=***&scope=***",
        ),
        (
            "https://app.example/#access_token=abc&token_type=bearer",
            "https://app.example/#access_token=***&token_type=***",
        ),
        (
            'GET "https://api.example/x?sig=AbC%2B1&expires=99" failed',
            'GET "https://api.example/x?sig=***&expires=***" failed',
        ),
    ],
)
def test_url_user_info_and_query_values_are_masked(url: str, expected: str) -> None:
    assert Redactor().clean(f"connecting to {url}") == f"connecting to {expected}"


def test_a_known_secret_is_hidden_in_its_common_encodings() -> None:
    secret = "alice:S3cr3t/P@ss+word"
    password = "S3cr3t/P@ss+word"
    raw = secret.encode()
    forms = {
        "raw": secret,
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64 url-safe": base64.urlsafe_b64encode(raw).decode(),
        "base64 url-safe unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "percent-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret, safe=""),
        "password alone": password,
        "password base64": base64.b64encode(password.encode()).decode(),
        "password percent-encoded": quote(password, safe=""),
    }
    for how in ("constructor", "add", "hiding"):
        redactor = Redactor([secret] if how == "constructor" else [])
        if how == "add":
            redactor.add(secret)
        with redactor.hiding(secret) if how == "hiding" else nullcontext():
            for name, form in forms.items():
                cleaned = redactor.clean(f"echoed [{form}] back")
                assert cleaned == "echoed [***] back", f"{how}: {name} leaked"


def test_the_password_of_a_known_url_is_hidden_alone_and_in_basic_auth() -> None:
    redactor = Redactor(["amqp://svc:p%2Fa%40ss-w0rd@broker:5672/prod"])
    basic = base64.b64encode(b"svc:p/a@ss-w0rd").decode()
    assert redactor.clean("login p/a@ss-w0rd refused") == "login *** refused"
    assert redactor.clean("login p%2Fa%40ss-w0rd refused") == "login *** refused"
    assert redactor.clean(f"sent {basic}") == "sent ***"


def test_many_known_secrets_are_one_pattern_rebuilt_only_when_they_change() -> None:
    secrets = [f"secret-number-{n:04d}-value" for n in range(300)]
    redactor = Redactor(secrets)
    text = " ".join(secrets[::7])
    assert set(redactor.clean(text, limit=100_000).split()) == {"***"}
    pattern = redactor._known_values()
    redactor.add(secrets[0])  # already known: nothing to rebuild
    assert redactor._known_values() is pattern
    redactor.add("one-more-secret")
    assert redactor._known_values() is not pattern


@pytest.mark.parametrize(
    "label", ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]
)
def test_pem_private_key_blocks_are_masked(label: str) -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1G"
    pem = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
    cleaned = Redactor().clean(f"bad key file:\n{pem}\nend", limit=10_000)
    assert "MIIEvQIBADANBgkq" not in cleaned
    assert "VJTUt9Us8cKjMzEf" not in cleaned
    assert cleaned == f"bad key file:\n-----BEGIN {label}-----***-----END {label}-----\nend"
    # cut off before its end line: hidden to the end of the text
    truncated = Redactor().clean(f"key: -----BEGIN {label}-----\n{body[:40]}", limit=10_000)
    assert "MIIEvQIBADANBgkq" not in truncated


@pytest.mark.parametrize(
    "text",
    [
        "token bucket refilled",
        "the secret is safe",
        "the password was rotated yesterday",
        "basic auth failed for crm",
        "event 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b parked after 3 attempts",
        "queue order_followup.parked holds 4 messages",
        "routing_key=order.created.v1 queue=intake.parked attempts=3",
        "InvalidTokenError: expired",
        "TransientError: crm answered 503 Service Unavailable",
        "see https://docs.example/guide/retries for the ladder",
        "https://registry.npmjs.org/@types/node",
        "amqp://broker:5672/prod",
        "tests passed: 10",
    ],
)
def test_ordinary_text_is_not_redacted(text: str) -> None:
    assert Redactor().clean(text) == text


HOSTILE = {
    "schemes": "a://" * 50_000,
    "key words": "token" * 40_000,
    "open quotes": '"token": "' * 20_000,
    "separators": "password=" * 20_000,
    "user-info": "@a:1/" * 40_000,
    "pem openings": "-----BEGIN PRIVATE KEY-----" * 8_000,
    "one long word": "x" * 200_000,
}


# A hang guard, not a speed goal (each takes about 0.1 s here); the thread method ends even a
# regex that never gives the interpreter back.
@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_is_cleaned_without_backtracking_forever(text: str) -> None:
    # A pattern that backtracks quadratically would not finish these within the hour.
    cleaned = Redactor([f"known-{n}-secret" for n in range(50)]).clean(text, limit=len(text) + 10)
    assert len(cleaned) <= len(text) + 10


@pytest.fixture
def log_buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger as `configure_logging` sets it up, its handler writing to a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(logs, "_redactor", Redactor(), raising=False)
    configure_logging("intake")
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_log_lines_carry_no_credential_from_message_extras_or_exception(
    log_buffer: io.StringIO,
) -> None:
    log = logging.getLogger("eventyard.test")
    try:
        raise RuntimeError("token endpoint said: client_secret=EXC-SECRET-1 refused")
    except RuntimeError:
        log.exception(
            "calling https://crm.example/oauth?access_token=MSG-SECRET-1 failed",
            extra={
                "error": "ContractError: 'access_token=EXTRA-SECRET-1' is not TYPE.vN",
                "password": "plain-extra-password",
                "request": {"headers": {"Authorization": "Bearer DICT-SECRET-1", "Accept": "x"}},
                "attempts": 3,
            },
        )
    output = log_buffer.getvalue()
    for leaked in (
        "MSG-SECRET-1",
        "EXTRA-SECRET-1",
        "plain-extra-password",
        "DICT-SECRET-1",
        "EXC-SECRET-1",
    ):
        assert leaked not in output
    [line] = [json.loads(x) for x in output.splitlines()]
    assert line["error"] == "ContractError: 'access_token=***' is not TYPE.vN"
    assert line["password"] == "***"
    assert line["attempts"] == 3
    assert line["request"] == {"headers": {"Authorization": "***", "Accept": "x"}}
    assert "RuntimeError: token endpoint said: client_secret=*** refused" in str(line["exception"])


def test_log_lines_hide_the_services_known_secrets_and_are_not_cut_short(
    log_buffer: io.StringIO,
) -> None:
    log = logging.getLogger("eventyard.test")
    logs.use_redactor(Redactor(["KNOWN-SECRET-VALUE-42"]))
    long_tail = "x" * 2_000
    log.warning("crm echoed KNOWN-SECRET-VALUE-42 back %s", long_tail, extra={"error": long_tail})
    [line] = _lines(log_buffer)
    assert "KNOWN-SECRET-VALUE-42" not in json.dumps(line)
    assert line["message"] == f"crm echoed *** back {long_tail}"
    assert line["error"] == long_tail


def test_log_lines_keep_ordinary_text(
    log_buffer: io.StringIO,
) -> None:
    log = logging.getLogger("eventyard.test")
    log.info("token bucket refilled", extra={"queue": "intake.parked", "queues": ["a", "b"]})
    [line] = _lines(log_buffer)
    assert line["message"] == "token bucket refilled"
    assert line["queue"] == "intake.parked"
    assert line["queues"] == ["a", "b"]


def test_the_formatter_alone_redacts_too() -> None:
    record = logging.makeLogRecord(
        {"msg": "login with password=%s", "args": ("hunter2-pw",), "levelname": "WARNING"}
    )
    rendered = JsonFormatter("tests").format(record)
    assert "hunter2-pw" not in rendered


async def test_a_dropped_messages_credential_reaches_neither_parked_headers_nor_logs(
    settings: Settings, log_buffer: io.StringIO
) -> None:
    secrets = ["SUPERSECRETVALUE123", "SUPERSECRETVALUE456"]
    types = [f"access_token={secrets[0]}", f"order.created.v1?client_secret={secrets[1]}"]
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with running(INTAKE, settings, topology), connected(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for kind in types:
            await channel.default_exchange.publish(
                aio_pika.Message(b'{"order_id": "ord_1"}', type=kind), routing_key=QUEUE.name
            )

        async def both_parked() -> bool:
            return await queue_depth(connection, QUEUE.parked) >= len(types)

        await eventually(both_parked, timeout=20)
        parked = await drain(connection, QUEUE.parked)
        await asyncio.sleep(0.1)  # the "parked" log lines follow the confirmed copies
    log = log_buffer.getvalue()
    errors = sorted(str(m.headers[h.ERROR_MESSAGE]) for m in parked)
    assert errors == [
        "ContractError: 'access_token=***' is not TYPE.vN (for example order.created.v1)",
        "ContractError: 'order.created.v1?client_secret=***' is not TYPE.vN "
        "(for example order.created.v1)",
    ]
    for message in parked:
        assert not any(s in str(v) for v in message.headers.values() for s in secrets)
    assert log.count('"message":"parked"') == len(types), log
    for secret in secrets:
        assert secret not in log
