"""email's send step without a broker: sent, retried, deferred, or parked with email.failed."""

from __future__ import annotations

import io
from datetime import timedelta

from contracts.emails import EmailRequestedV1
from contracts.envelope import utc_now
from services.email.handlers import sender
from services.email.providers import ConsoleProvider
from services.email.rendering import RenderedEmail, Renderer
from shared.errors import TransientError
from shared.testing import HandlerKit

REQUEST = EmailRequestedV1(
    to="ada@example.com",
    template="order_confirmation",
    variables={
        "name": "Ada",
        "order_id": "ord_1",
        "total": "17.98 EUR",
        "city": "London",
        "lines": [{"name": "Earl Grey", "quantity": 2}],
    },
)


class Relay:
    """A mail provider that fails while `down`."""

    name = "relay"

    def __init__(self, *, down: bool) -> None:
        self.down = down
        self.sent: list[RenderedEmail] = []

    async def send(self, email: RenderedEmail, message_id: str) -> str | None:
        if self.down:
            raise TransientError("relay answered 451")
        self.sent.append(email)
        return f"<{message_id}@relay>"


def console(out: io.StringIO) -> ConsoleProvider:
    return ConsoleProvider("shop@example.com", out=out)


async def test_a_rendered_email_is_sent_and_reported() -> None:
    kit, out = HandlerKit(service="email"), io.StringIO()
    result = await kit.run(sender(Renderer(), console(out), kit.redactor, 3), REQUEST)
    assert result.acked
    assert "Subject: Your order ord_1 is confirmed" in out.getvalue()
    [sent] = result.published
    assert (sent.type, sent.data.provider) == ("email.sent", "console")


async def test_a_relay_that_is_down_means_a_retry_and_no_report_yet() -> None:
    kit, relay = HandlerKit(service="email"), Relay(down=True)
    result = await kit.run(sender(Renderer(), relay, kit.redactor, 3), REQUEST)
    assert (result.retried, result.rung) == (True, "retry.5s")
    assert result.published == []


async def test_the_last_attempt_reports_email_failed_before_it_is_parked() -> None:
    kit, relay = HandlerKit(service="email"), Relay(down=True)
    result = await kit.run(sender(Renderer(), relay, kit.redactor, 3), REQUEST, attempt=4)
    assert (result.parked, result.reason) == (True, "exhausted")
    [failed] = result.published
    assert (failed.type, failed.data.attempts) == ("email.failed", 4)


async def test_a_missing_template_is_parked_at_once_and_reported() -> None:
    kit = HandlerKit(service="email")
    request = REQUEST.model_copy(update={"template": "no_such_template"})
    result = await kit.run(sender(Renderer(), Relay(down=False), kit.redactor, 3), request)
    assert (result.parked, result.reason) == (True, "permanent")
    assert "no_such_template" in str(result.error)
    assert [e.type for e in result.published] == ["email.failed"]


async def test_send_at_waits_on_the_ladder_without_using_an_attempt() -> None:
    kit, relay = HandlerKit(service="email"), Relay(down=False)
    later = REQUEST.model_copy(update={"send_at": utc_now() + timedelta(minutes=3)})
    result = await kit.run(sender(Renderer(), relay, kit.redactor, 3), later)
    assert (result.outcome, result.rung) == ("deferred", "retry.2m")
    assert relay.sent == []


async def test_the_old_name_send_after_still_schedules() -> None:
    kit, relay = HandlerKit(service="email"), Relay(down=False)
    later = REQUEST.model_copy(update={"send_after": utc_now() + timedelta(minutes=3)})
    result = await kit.run(sender(Renderer(), relay, kit.redactor, 3), later)
    assert (result.outcome, result.rung) == ("deferred", "retry.2m")


async def test_a_send_at_in_the_past_sends_at_once() -> None:
    kit, relay = HandlerKit(service="email"), Relay(down=False)
    earlier = REQUEST.model_copy(update={"send_at": utc_now() - timedelta(days=2)})
    result = await kit.run(sender(Renderer(), relay, kit.redactor, 3), earlier)
    assert result.acked
    assert len(relay.sent) == 1
