"""A line break in any email header field is a permanent contract error: parked once, and no
provider ever writes a header the requester slipped in."""

from __future__ import annotations

import io

import httpx
import pytest

from contracts.emails import EmailRequestedV1
from services.email.app import SEND_QUEUE
from services.email.providers import ConsoleProvider, HttpProvider, SmtpProvider, mime
from services.email.rendering import RenderedEmail
from shared import headers as h
from shared.config import EmailConfig
from shared.errors import ContractError
from shared.gateway import EndpointPolicy
from shared.gateway.testing import harness
from shared.settings import Settings
from tests.integration.test_email import run_email
from tests.support.events import drain, emitter_for, queue_depth
from tests.support.smtp import Mailbox, smtp_server
from tests.support.waiting import eventually

EVENT_ID = "5b0c0d8e-6f0e-4d8f-9a55-2f7d3c1e9a10"
INJECTED = "Your order\r\nBcc: everyone@example.net"
# Every character a mail system along the way might take for the end of a header line.
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00"]


def email(subject: str = "Hello", to: str = "ada@example.com") -> RenderedEmail:
    return RenderedEmail(to, subject, "Hi Ada", "<p>Hi Ada</p>")


@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
async def test_the_console_writes_no_injected_header(brk: str) -> None:
    out = io.StringIO()
    with pytest.raises(ContractError, match="Subject header field contains a line break"):
        await ConsoleProvider("shop@example.com", out=out).send(
            email(f"Your order{brk}Bcc: everyone@example.net"), EVENT_ID
        )
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("sender", "mail", "message_id", "field"),
    [
        ("shop@example.com\r\nBcc: x@example.net", email(), EVENT_ID, "From"),
        ("shop@example.com", email(to="ada@example.com\nBcc: x@example.net"), EVENT_ID, "To"),
        ("shop@example.com", email(INJECTED), EVENT_ID, "Subject"),
        ("shop@example.com", email(), "id\r\nBcc: x@example.net", "Message-ID"),
    ],
)
def test_smtp_builds_no_message_with_an_injected_header(
    sender: str, mail: RenderedEmail, message_id: str, field: str
) -> None:
    with pytest.raises(ContractError, match=f"the {field} header field contains a line break"):
        mime(mail, sender, message_id)


async def test_smtp_sends_nothing_when_a_header_field_is_injected() -> None:
    with smtp_server(Mailbox()) as mailbox:
        provider = SmtpProvider(EmailConfig(provider="smtp", smtp_port=mailbox.port))
        with pytest.raises(ContractError):
            await provider.send(email(INJECTED), EVENT_ID)
    assert mailbox.messages == []
    assert mailbox.attempts == 0


async def test_the_http_mail_api_is_not_called_with_an_injected_header() -> None:
    policy = EndpointPolicy(name="mailapi", base_url="https://api.example.com/v1/")

    async def accept(_: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"id": "msg_1"})

    api = harness(accept, policy)
    config = EmailConfig(provider="http", http_integration="mailapi")
    try:
        with pytest.raises(ContractError):
            await HttpProvider(config, api.gateway).send(email(INJECTED), EVENT_ID)
    finally:
        await api.gateway.aclose()
    assert api.requests == []


async def test_a_requested_subject_with_a_line_break_is_parked_once_and_never_sent(
    settings: Settings,
) -> None:
    request = EmailRequestedV1(to="ada@example.com", subject=INJECTED, body="Thanks!")
    with smtp_server(Mailbox()) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            await (await emitter_for(connection)).publish(request)
            await eventually(lambda: queue_depth(connection, SEND_QUEUE.parked))
            [parked] = await drain(connection, SEND_QUEUE.parked)
    assert parked.headers[h.ATTEMPTS] == 1
    assert parked.headers[h.REASON] == "contract"
    assert "line break" in str(parked.headers[h.ERROR_MESSAGE])
    assert mailbox.attempts == 0


def test_a_from_address_with_a_line_break_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="from_address"):
        EmailConfig(from_address="shop@example.com\r\nBcc: x@example.net")
