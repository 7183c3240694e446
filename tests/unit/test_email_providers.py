"""Mail providers without a network: MIME priority headers, the console, the HTTP mail API."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from services.email.providers import ConsoleProvider, HttpProvider, mime
from services.email.rendering import Priority, RenderedEmail
from shared.config import EmailConfig
from shared.errors import PermanentError, TransientError
from shared.gateway import EndpointPolicy
from shared.gateway.testing import Handler, Harness, harness

EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"
MAIL_API = EndpointPolicy(name="mailapi", base_url="https://api.example.com/v1/")
CONFIG = EmailConfig(provider="http", http_integration="mailapi", from_address="shop@example.com")


def email(priority: Priority = "normal") -> RenderedEmail:
    return RenderedEmail("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>", priority)


@pytest.mark.parametrize(
    ("priority", "importance", "x_priority"),
    [("high", "high", "1 (Highest)"), ("low", "low", "5 (Lowest)"), ("normal", None, None)],
)
def test_mime_carries_the_conventional_priority_headers(
    priority: Priority, importance: str | None, x_priority: str | None
) -> None:
    message = mime(email(priority), "shop@example.com", EVENT_ID)
    assert message["Importance"] == importance
    assert message["X-Priority"] == x_priority


@pytest.mark.parametrize("priority", ["high", "low"])
async def test_the_console_prints_a_priority_other_than_normal(priority: Priority) -> None:
    out = io.StringIO()
    await ConsoleProvider("shop@example.com", out=out).send(email(priority), EVENT_ID)
    assert f"\nPriority: {priority}\n" in out.getvalue()


async def test_the_console_says_nothing_of_normal_priority() -> None:
    out = io.StringIO()
    await ConsoleProvider("shop@example.com", out=out).send(email(), EVENT_ID)
    assert "Priority" not in out.getvalue()


def answering(*responses: httpx.Response) -> Handler:
    """A mail API giving these answers in order, then repeating the last."""
    queue = list(responses)

    async def handle(_: httpx.Request) -> httpx.Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


@pytest.fixture
async def mail_api() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(*responses: httpx.Response) -> Harness:
        made.append(harness(answering(*responses), MAIL_API))
        return made[-1]

    yield make
    for h in made:
        await h.gateway.aclose()


async def test_http_posts_the_email_as_json_with_its_priority(
    mail_api: Callable[..., Harness],
) -> None:
    h = mail_api(httpx.Response(202, json={"id": "msg_1"}))
    await HttpProvider(CONFIG, h.gateway).send(email("high"), EVENT_ID)
    [sent] = h.requests
    assert sent.method == "POST"
    assert sent.url.path == "/v1/send"
    assert orjson.loads(sent.content) == {
        "from": "shop@example.com",
        "to": "ada@example.com",
        "subject": "Hello",
        "text": "Hi Ada",
        "html": "<p>Hi Ada</p>",
        "priority": "high",
    }


async def test_http_uses_the_event_id_as_idempotency_key_on_every_attempt(
    mail_api: Callable[..., Harness],
) -> None:
    h = mail_api(httpx.Response(503), httpx.Response(200, json={"id": "msg_1"}))
    await HttpProvider(CONFIG, h.gateway).send(email(), EVENT_ID)
    assert [r.headers["Idempotency-Key"] for r in h.requests] == [EVENT_ID, EVENT_ID]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json={"id": "msg_1"}), "msg_1"),
        (httpx.Response(200, json={"id": 42}), "42"),
        (httpx.Response(202, json={"queued": True}), None),
        (httpx.Response(202, json=["msg_1"]), None),
        (httpx.Response(204), None),
    ],
)
async def test_http_success_returns_the_providers_message_id_if_it_gives_one(
    mail_api: Callable[..., Harness], response: httpx.Response, expected: str | None
) -> None:
    h = mail_api(response)
    assert await HttpProvider(CONFIG, h.gateway).send(email(), EVENT_ID) == expected


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_http_5xx_and_429_are_transient(
    mail_api: Callable[..., Harness], status: int
) -> None:
    h = mail_api(httpx.Response(status))
    with pytest.raises(TransientError, match=str(status)):
        await HttpProvider(CONFIG, h.gateway).send(email(), EVENT_ID)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_http_4xx_is_permanent(mail_api: Callable[..., Harness], status: int) -> None:
    h = mail_api(httpx.Response(status, text="no such mailbox"))
    with pytest.raises(PermanentError, match=str(status)):
        await HttpProvider(CONFIG, h.gateway).send(email(), EVENT_ID)
    assert len(h.requests) == 1
