"""The send step: render, send, and say so with `email.sent.v1` or `email.failed.v1`."""

from __future__ import annotations

from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from contracts.envelope import utc_now
from services.email.base import Provider
from services.email.rendering import Renderer
from shared.consumer import Handler, Incoming
from shared.errors import DeferredError, PermanentError
from shared.redact import Redactor


def sender(
    renderer: Renderer, provider: Provider, redactor: Redactor, ladder_length: int
) -> Handler:
    """The handler of `email.send`."""

    async def send_email(incoming: Incoming[EmailRequestedV1]) -> None:
        request = incoming.data
        due = request.scheduled_for
        if due is not None and due > utc_now():
            raise DeferredError(due)  # waits on the broker, not in memory
        try:
            email = renderer.render(request)
            provider_id = await provider.send(email, incoming.event.id)
        except Exception as error:
            final = isinstance(error, PermanentError) or incoming.attempt > ladder_length
            if final:
                await incoming.publish(
                    EmailFailedV1(
                        request_id=incoming.event.id,
                        to=request.to,
                        provider=provider.name,
                        reason=redactor.clean(f"{type(error).__name__}: {error}"),
                        attempts=incoming.attempt,
                        failed_at=utc_now(),
                    ),
                    require_route=False,
                )
            raise
        incoming.answered(None, provider_id)
        await incoming.publish(
            EmailSentV1(
                request_id=incoming.event.id,
                to=request.to,
                provider=provider.name,
                provider_message_id=provider_id,
                sent_at=utc_now(),
            ),
            require_route=False,
        )

    return send_email
