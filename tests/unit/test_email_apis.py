"""The hosted mail APIs' adapters against stand-ins that check each request the way the real API
documents it (path, auth header, body fields) and answer with that API's real error bodies."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.email.apis.postmark import PostmarkProvider
from services.email.apis.sendgrid import SendGridProvider
from services.email.providers import provider_for
from services.email.rendering import RenderedEmail
from shared.config import EmailConfig
from shared.errors import ConfigError, PermanentError, TransientError
from shared.gateway import EndpointPolicy, Gateway
from shared.gateway.testing import harness
from shared.redact import Redactor

EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"
SENDER = "shop@example.com"
SENDGRID = EndpointPolicy(
    "mail", "https://api.sendgrid.example/", auth="bearer", credentials=("SG_KEY",), max_retries=0
)
POSTMARK = EndpointPolicy(
    "mail",
    "https://api.postmark.example/",
    auth="header",
    auth_header="X-Postmark-Server-Token",
    credentials=("PM_TOKEN",),
    max_retries=0,
)
# The APIs' documented error bodies.
SENDGRID_BAD_FROM = {
    "errors": [
        {
            "message": "The from email does not contain a valid address.",
            "field": "from.email",
            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.from",
        }
    ]
}
SENDGRID_BAD_KEY = {
    "errors": [
        {
            "field": None,
            "message": "The provided authorization grant is invalid, expired, or revoked",
            "help": None,
        }
    ]
}
POSTMARK_INACTIVE = {
    "ErrorCode": 406,
    "Message": "You tried to send to recipient(s) that have been marked as inactive.",
}
POSTMARK_NO_CREDITS = {"ErrorCode": 405, "Message": "Not allowed to send: out of credits."}
POSTMARK_NO_TOKEN = {
    "ErrorCode": 10,
    "Message": "No Account or Server API tokens were supplied in the HTTP headers.",
}


def email(priority: Any = "high") -> RenderedEmail:
    return RenderedEmail("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>", priority)


class SendGridStandIn:
    """`POST /v3/mail/send` as SendGrid documents it: 202 and X-Message-Id, or `answer`."""

    def __init__(self, status: int = 202, answer: Any = None) -> None:
        self.status, self.answer = status, answer
        self.bodies: list[Any] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v3/mail/send")
        assert request.headers["authorization"] == "Bearer SG.test-key"
        assert request.headers["content-type"] == "application/json"
        body = orjson.loads(request.content)
        self.bodies.append(body)
        assert body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
        assert body["from"] == {"email": SENDER}
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
        if self.status == 202:
            return httpx.Response(202, headers={"X-Message-Id": "sg-msg-1"})
        return httpx.Response(self.status, json=self.answer)


class PostmarkStandIn:
    """`POST /email` as Postmark documents it: 200 with MessageID and ErrorCode 0, or `answer`."""

    def __init__(self, status: int = 200, answer: Any = None) -> None:
        self.status, self.answer = status, answer
        self.bodies: list[Any] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/email")
        assert request.headers["x-postmark-server-token"] == "pm-test-token"
        assert request.headers["accept"] == "application/json"
        body = orjson.loads(request.content)
        self.bodies.append(body)
        assert (body["From"], body["To"], body["Subject"]) == (SENDER, "ada@example.com", "Hello")
        assert (body["TextBody"], body["HtmlBody"]) == ("Hi Ada", "<p>Hi Ada</p>")
        assert body["MessageStream"] == "outbound"
        if self.status == 200:
            return httpx.Response(
                200,
                json={
                    "To": "ada@example.com",
                    "SubmittedAt": "2026-12-03T07:25:01.4178645-05:00",
                    "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
                    "ErrorCode": 0,
                    "Message": "OK",
                },
            )
        return httpx.Response(self.status, json=self.answer)


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_KEY", "SG.test-key")
    monkeypatch.setenv("PM_TOKEN", "pm-test-token")


async def test_sendgrid_sends_the_documented_body_and_returns_its_message_id() -> None:
    stand_in = SendGridStandIn()
    h = harness(stand_in, SENDGRID, hosts={"api.sendgrid.example": ["93.184.215.14"]})
    sent = await SendGridProvider("mail", SENDER, h.gateway).send(email(), EVENT_ID)
    assert sent == "sg-msg-1"
    [body] = stand_in.bodies
    assert body["headers"] == {"Importance": "high", "X-Priority": "1 (Highest)"}
    assert body["custom_args"] == {"eventyard_message_id": EVENT_ID}
    await h.gateway.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "error", "says"),
    [
        (400, SENDGRID_BAD_FROM, PermanentError, "does not contain a valid address. (from.email)"),
        (401, SENDGRID_BAD_KEY, PermanentError, "authorization grant is invalid"),
        (413, {"errors": [{"message": "too big"}]}, PermanentError, "too big"),
        (429, {"errors": [{"field": None, "message": "too many requests"}]}, TransientError, "429"),
        (500, None, TransientError, "500"),
    ],
)
async def test_sendgrid_errors_are_normalised(
    status: int, answer: Any, error: type[Exception], says: str
) -> None:
    h = harness(SendGridStandIn(status, answer), SENDGRID,
                hosts={"api.sendgrid.example": ["93.184.215.14"]})  # fmt: skip
    with pytest.raises(error, match="sendgrid") as raised:
        await SendGridProvider("mail", SENDER, h.gateway).send(email(), EVENT_ID)
    assert says in str(raised.value)
    await h.gateway.aclose()


async def test_postmark_sends_the_documented_body_and_returns_its_message_id() -> None:
    stand_in = PostmarkStandIn()
    h = harness(stand_in, POSTMARK, hosts={"api.postmark.example": ["93.184.215.14"]})
    sent = await PostmarkProvider("mail", SENDER, h.gateway).send(email("low"), EVENT_ID)
    assert sent == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    [body] = stand_in.bodies
    assert {"Name": "X-Priority", "Value": "5 (Lowest)"} in body["Headers"]
    assert body["Metadata"] == {"eventyard_message_id": EVENT_ID}
    await h.gateway.aclose()


@pytest.mark.parametrize(
    ("status", "answer", "error", "says"),
    [
        (422, POSTMARK_INACTIVE, PermanentError, "ErrorCode 406"),
        (422, POSTMARK_NO_CREDITS, TransientError, "ErrorCode 405"),
        (401, POSTMARK_NO_TOKEN, PermanentError, "ErrorCode 10"),
        (422, ["not", "postmark's"], PermanentError, "ErrorCode None"),
        (500, {"ErrorCode": 500, "Message": "Internal"}, TransientError, "500"),
    ],
)
async def test_postmark_errors_are_normalised_by_error_code(
    status: int, answer: Any, error: type[Exception], says: str
) -> None:
    h = harness(PostmarkStandIn(status, answer), POSTMARK,
                hosts={"api.postmark.example": ["93.184.215.14"]})  # fmt: skip
    with pytest.raises(error, match="postmark") as raised:
        await PostmarkProvider("mail", SENDER, h.gateway).send(email(), EVENT_ID)
    assert says in str(raised.value)
    await h.gateway.aclose()


def test_the_integrations_file_chooses_the_adapter_and_an_unknown_one_is_refused() -> None:
    gateway = Gateway([], registry=CollectorRegistry(), redactor=Redactor())
    chosen = provider_for(
        EmailConfig(provider="postmark", http_integration="mail", from_address=SENDER), gateway
    )
    assert chosen.name == "postmark"
    with pytest.raises(ConfigError, match=r"needs email\.http_integration"):
        provider_for(EmailConfig(provider="sendgrid"), gateway)
    with pytest.raises(ConfigError, match="is none of smtp, http, console, sendgrid, postmark"):
        provider_for(EmailConfig(provider="mailgun"), gateway)
