"""email against a local SMTP server: rendered and sent once, 451 retried, 550 parked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.emails import EmailRequestedV1
from contracts.envelope import utc_now
from services.email.app import DEFINITION as EMAIL
from services.email.app import SEND_QUEUE
from shared import headers as h
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology, ladder_name
from tests.support.events import connected, drain, emitter_for, queue_depth
from tests.support.services import running
from tests.support.smtp import Mailbox, smtp_server
from tests.support.waiting import eventually


def integrations(port: int) -> IntegrationsFile:
    return IntegrationsFile.model_validate(
        {"email": {"provider": "smtp", "smtp_port": port, "from_address": "shop@example.com"}}
    )


def confirmation(**extra: Any) -> EmailRequestedV1:
    return EmailRequestedV1(
        to="ada@example.com",
        template="order_confirmation",
        variables={
            "name": "Ada <Lovelace>",
            "order_id": "ord_1",
            "total": "17.98 EUR",
            "city": "London",
            "lines": [{"name": "Earl Grey", "quantity": 2}],
        },
        **extra,
    )


async def run_email(settings: Settings, mailbox: Mailbox, *requests: EmailRequestedV1) -> Any:
    topology = Topology((SEND_QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    return running(EMAIL, settings, topology, integrations(mailbox.port)), connected(url)


async def test_template_is_rendered_and_sent_once(settings: Settings) -> None:
    with smtp_server(Mailbox()) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            publisher = await emitter_for(connection)
            event = await publisher.publish(confirmation())
            await eventually(lambda: len(mailbox.messages) == 1)
    [mail] = mailbox.messages
    assert mail["Subject"] == "Your order ord_1 is confirmed"
    assert mail["To"] == "ada@example.com"
    assert mail["Message-ID"] == f"<{event.id}@eventyard>"
    text, html = (
        part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
    )
    assert "Hello Ada <Lovelace>," in text
    assert "Ada &lt;Lovelace&gt;" in html
    assert "2 \N{MULTIPLICATION SIGN} Earl Grey" in text


async def test_451_is_retried_and_550_is_parked_at_once(settings: Settings) -> None:
    with smtp_server(Mailbox(replies=["451 4.3.0 try again later"])) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            publisher = await emitter_for(connection)
            await publisher.publish(confirmation())
            await eventually(lambda: len(mailbox.messages) == 1, timeout=10)
            assert mailbox.attempts == 2
            mailbox.replies.append("550 5.1.1 mailbox unavailable")
            await publisher.publish(confirmation())
            await eventually(lambda: queue_depth(connection, SEND_QUEUE.parked))
            [parked] = await drain(connection, SEND_QUEUE.parked)
    assert mailbox.attempts == 3
    assert parked.headers[h.REASON] == "permanent"
    assert "SMTP 550" in str(parked.headers[h.ERROR_MESSAGE])


async def test_high_priority_arrives_with_the_conventional_headers(settings: Settings) -> None:
    with smtp_server(Mailbox()) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            await (await emitter_for(connection)).publish(confirmation(priority="high"))
            await eventually(lambda: len(mailbox.messages) == 1)
    [mail] = mailbox.messages
    assert mail["Importance"] == "high"
    assert mail["X-Priority"] == "1 (Highest)"


async def test_550_at_rcpt_to_is_parked_at_once(settings: Settings) -> None:
    with smtp_server(Mailbox(rcpt_replies=["550 5.1.1 no such user"])) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            await (await emitter_for(connection)).publish(confirmation())
            await eventually(lambda: queue_depth(connection, SEND_QUEUE.parked))
            [parked] = await drain(connection, SEND_QUEUE.parked)
    assert mailbox.rcpt_attempts == 1
    assert mailbox.attempts == 0
    assert parked.headers[h.REASON] == "permanent"
    assert "SMTP 550" in str(parked.headers[h.ERROR_MESSAGE])


async def test_451_at_rcpt_to_is_retried(settings: Settings) -> None:
    with smtp_server(Mailbox(rcpt_replies=["451 4.3.0 greylisted"])) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            await (await emitter_for(connection)).publish(confirmation())
            await eventually(lambda: len(mailbox.messages) == 1, timeout=10)
    assert mailbox.rcpt_attempts == 2


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (EmailRequestedV1(to="a@b.io", template="no_such_template"), "no_such_template"),
        (EmailRequestedV1(to="a@b.io", template="order_confirmation"), "'order_id' is undefined"),
    ],
)
async def test_missing_template_or_variable_is_parked_naming_it(
    settings: Settings, request_: EmailRequestedV1, reason: str
) -> None:
    with smtp_server(Mailbox()) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            await (await emitter_for(connection)).publish(request_)
            await eventually(lambda: queue_depth(connection, SEND_QUEUE.parked))
            [parked] = await drain(connection, SEND_QUEUE.parked)
    assert reason in str(parked.headers[h.ERROR_MESSAGE])
    assert mailbox.attempts == 0


async def test_scheduled_send_waits_on_the_broker(settings: Settings) -> None:
    with smtp_server(Mailbox()) as mailbox:
        service, conn = await run_email(settings, mailbox)
        async with service, conn as connection:
            publisher = await emitter_for(connection)
            due = utc_now() + timedelta(seconds=1.5)
            await publisher.publish(confirmation(send_at=due))
            # While it waits it sits in a ladder queue on the broker, not in worker memory.
            await eventually(lambda: _waiting_on_ladder(connection, settings), timeout=5)
            assert mailbox.messages == []
            await eventually(lambda: len(mailbox.messages) == 1, timeout=10)
    assert utc_now() >= due
    assert mailbox.attempts == 1


async def _waiting_on_ladder(connection: Any, settings: Settings) -> bool:
    depths = [await queue_depth(connection, ladder_name(d)) for d in settings.retry.delays]
    return sum(depths) == 1


async def test_a_scheduled_email_waits_out_a_restart_of_the_email_service(
    settings: Settings,
) -> None:
    topology = Topology((SEND_QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    with smtp_server(Mailbox()) as mailbox:
        async with connected(url) as connection:
            publisher = await emitter_for(connection)
            async with running(EMAIL, settings, topology, integrations(mailbox.port)):
                due = utc_now() + timedelta(seconds=3)
                await publisher.publish(confirmation(send_at=due, priority="high"))
                await eventually(lambda: _waiting_on_ladder(connection, settings), timeout=5)
            # No email service runs now: the request waits on the broker alone.
            assert mailbox.messages == []
            async with running(EMAIL, settings, topology, integrations(mailbox.port)):
                await eventually(lambda: len(mailbox.messages) == 1, timeout=20)
    assert utc_now() >= due
    assert mailbox.messages[0]["X-Priority"] == "1 (Highest)"  # priority beside the schedule
